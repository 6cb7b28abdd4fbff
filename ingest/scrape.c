/*
 * scrape.c - the scrape manager (see scrape.h): Prometheus 2.42's scrape
 * loop on one thread.
 *
 * Design.  One thread owns everything that writes: the jobs and their
 * targets, the curl multi handle, one tsdb appender and the configuration
 * in use.  Its loop applies a configuration handed over by
 * scrape_apply_config(), re-checks file_sd files, runs retention when due,
 * starts the transfers of targets whose time has come, lets the clients
 * work and finishes completed transfers, then sleeps in epoll_wait() until
 * the next target is due, a socket is ready, curl's timer expires or an
 * httpget transfer's scrape_timeout passes (other threads wake it through
 * an eventfd).
 *
 * Two clients: a plain-http target without proxy_url is fetched with
 * httpget (ingest/httpget.h: under half of libcurl's CPU per request,
 * about what a bare socket costs), over a connection kept in the target;
 * HTTPS, proxied targets and a target whose answer was a redirect the job
 * follows go through libcurl's multi interface
 * (curl_multi_socket_action()).  Both report into the same
 * store_answer(), with the same error texts for HTTP statuses and
 * timeouts.
 *
 * Timing: each target is scraped at the wall-clock instants t with
 * t mod interval == hash(target) mod interval, as Prometheus spreads
 * targets; a target whose definition does not change keeps its schedule
 * across configuration reloads and file_sd updates.  Idle targets wait in
 * a min-heap by next scrape time and httpget transfers in one by deadline,
 * so a wake-up touches only the targets that are due (a scan of all of
 * them cost a cache miss per target, twice a scrape).
 *
 * Storing a scrape: the body (received whole, at most body_size_limit
 * bytes, gzip inflated by gunzip()) is parsed with expfmt in the format the
 * Content-Type names.  Each sample's raw series text is looked up in the
 * target's series cache; a hit gives the series ref (or "dropped by
 * metric_relabel_configs") without any label work.  A miss builds the label
 * set, merges the target labels (honor_labels, or exported_ prefixes as
 * Prometheus does), applies metric_relabel_configs, checks the label
 * limits and resolves the ref.  Cache entries not seen for two scrapes are
 * evicted.  Staleness follows Prometheus: the refs of the previous scrape
 * that this scrape did not produce (samples without explicit timestamps
 * only) get STALE_NAN at this scrape's time; a failed scrape (transport,
 * HTTP status, parse error, a limit) stores none of its samples and marks
 * every series of the previous scrape stale.  The five report series (up,
 * scrape_duration_seconds, ...) follow, and the whole scrape is committed
 * as one appender batch.
 *
 * Locking: the manager's mutex guards the pending configuration, the stop
 * flag, the job list, each target's displayed state (last error, last
 * scrape, health) and the manager's counters.  The scrape thread takes it
 * only to publish changes; readers (scrape_targets_json, scrape_metrics)
 * take it to copy.  Target definitions are immutable once published,
 * except the discovered labels, which are swapped under the lock.
 *
 * libcurl: scrape_start() calls curl_global_init() once per process through
 * pthread_once (libcurl requires it before any other call and it is not
 * thread-safe itself); curl_global_cleanup() is never called.
 */
#include "ingest/scrape.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <libdeflate.h>
#include <math.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "common/minheap.h"
#include "common/timeutil.h"
#include "ingest/expfmt.h"
#include "ingest/httpget.h"
#include "ingest/scrape_int.h"
#include "web/json.h"

#define ACCEPT_HEADER                                                                                               \
    "Accept: application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"     \
    "text/plain;version=0.0.4;q=0.5,*/*;q=0.1"

static const double duration_buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
#define NBUCKETS (sizeof duration_buckets / sizeof duration_buckets[0])

static const char *const report_names[] = {"up", "scrape_duration_seconds", "scrape_samples_scraped",
                                           "scrape_samples_post_metric_relabeling", "scrape_series_added"};
#define NREPORT 5

static int64_t wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static double stale_nan(void) {
    uint64_t bits = STALE_NAN_BITS;
    double v;
    memcpy(&v, &bits, sizeof v);
    return v;
}

/* ------------------------------------------------------------ series cache */

/* Raw series text -> ref; chained so that entries can be evicted in place.
 * There is one per scraped series, so the header is packed (29 bytes, the
 * text right after it): the hash and the scrape counter keep their low 32
 * bits, which is all a bucket index and "seen in the last two scrapes"
 * (compared modulo 2^32) need. */
typedef struct cache_entry {
    struct cache_entry *next;
    tsdb_ref ref;        /* 0 with dropped==0: the series was invalid */
    uint32_t hash;       /* low half of the text's XXH3 */
    uint32_t len;
    uint32_t last_iter;  /* low half of the scrape that last saw it */
    uint8_t dropped;     /* dropped by metric_relabel_configs */
    char text[];
} cache_entry;

/* Besides the hash table, the cache keeps the order in which the last
 * scrape listed its series: targets print the same series in the same
 * order every time, so the entry at the same position is compared first,
 * with no hashing, and the entries a few positions ahead are prefetched.
 * The comparison is the parser's (expfmt_expect): a line that starts with
 * the predicted text is not parsed for its name and labels at all.
 * With hundreds of targets the table's chains are never in cache when a
 * target comes round again; walking them was the scrape path's largest
 * cost.  The order of the scrape in progress is built in the manager's
 * scratch array (one for all targets) and copied at the end, so a target
 * keeps 8 bytes a series for it. */
typedef struct {
    cache_entry **buckets;
    size_t nbuckets, count;
    cache_entry **order;       /* the last scrape's series, in order */
    size_t norder;
} series_cache;

/* The order of the scrape in progress (scrape thread). */
typedef struct {
    cache_entry **v;
    size_t n, cap;
} order_scratch;

static void cache_clear(series_cache *c) {
    for (size_t i = 0; i < c->nbuckets; i++)
        for (cache_entry *e = c->buckets[i], *n; e; e = n) {
            n = e->next;
            free(e);
        }
    free(c->buckets);
    free(c->order);
    memset(c, 0, sizeof *c);
}

/* The entry the last scrape had at position i, if it is text; prefetches
 * the one a few positions on. */
static void cache_prefetch(const series_cache *c, size_t i) {
    if (i + 4 < c->norder) {
        __builtin_prefetch(c->order[i + 4]);
        __builtin_prefetch((const char *)c->order[i + 4] + 64);
    }
}

static cache_entry *cache_predict(const series_cache *c, size_t i, const char *text, size_t len) {
    cache_prefetch(c, i);
    if (i >= c->norder) return NULL;
    cache_entry *e = c->order[i];
    return e->len == len && !memcmp(e->text, text, len) ? e : NULL;
}

static void order_note(order_scratch *o, cache_entry *e) {
    if (o->n == o->cap) {
        o->cap = o->cap ? o->cap * 2 : 1024;
        o->v = xrealloc(o->v, o->cap * sizeof *o->v);
    }
    o->v[o->n++] = e;
}

/* Ends a scrape's pass: its order becomes the prediction.  Every entry in
 * it was seen by this scrape, so eviction (which spares those) cannot free
 * one. */
static void cache_end_scrape(series_cache *c, order_scratch *o) {
    if (o->n != c->norder) {
        free(c->order);
        c->order = o->n ? xmalloc(o->n * sizeof *c->order) : NULL;
        c->norder = o->n;
    }
    if (o->n) memcpy(c->order, o->v, o->n * sizeof *c->order);
    o->n = 0;
}

static cache_entry *cache_find(series_cache *c, const char *text, size_t len, uint64_t hash) {
    if (!c->nbuckets) return NULL;
    for (cache_entry *e = c->buckets[hash & (c->nbuckets - 1)]; e; e = e->next)
        if (e->hash == (uint32_t)hash && e->len == len && !memcmp(e->text, text, len)) return e;
    return NULL;
}

/* Rehashes into nb buckets (a power of two). */
static void cache_resize(series_cache *c, size_t nb) {
    cache_entry **nbk = xcalloc(nb, sizeof *nbk);
    for (size_t i = 0; i < c->nbuckets; i++)
        for (cache_entry *e = c->buckets[i], *n; e; e = n) {
            n = e->next;
            e->next = nbk[e->hash & (nb - 1)];
            nbk[e->hash & (nb - 1)] = e;
        }
    free(c->buckets);
    c->buckets = nbk;
    c->nbuckets = nb;
}

static cache_entry *cache_add(series_cache *c, const char *text, size_t len, uint64_t hash) {
    if (c->count + 1 > c->nbuckets) cache_resize(c, c->nbuckets ? c->nbuckets * 2 : 64);
    cache_entry *e = xmalloc(offsetof(cache_entry, text) + len);
    memset(e, 0, offsetof(cache_entry, text));
    memcpy(e->text, text, len);
    e->len = (uint32_t)len;
    e->hash = (uint32_t)hash;
    e->next = c->buckets[hash & (c->nbuckets - 1)];
    c->buckets[hash & (c->nbuckets - 1)] = e;
    c->count++;
    return e;
}

/* Evicts entries the last two scrapes did not see, and shrinks the table
 * when it is mostly empty: the cache's memory follows the target's size. */
static void cache_evict(series_cache *c, uint64_t iter) {
    for (size_t i = 0; i < c->nbuckets; i++) {
        cache_entry **pp = &c->buckets[i];
        while (*pp) {
            cache_entry *e = *pp;
            if ((uint32_t)iter - e->last_iter >= 2) {
                *pp = e->next;
                free(e);
                c->count--;
            } else {
                pp = &e->next;
            }
        }
    }
    if (c->nbuckets > 64 && c->count * 8 < c->nbuckets) {
        size_t nb = 64;
        while (nb < c->count * 2) nb *= 2;
        cache_resize(c, nb);
    }
}

/* ------------------------------------------------------------ ref sets */

/* The series a scrape produced, as a sorted array of refs without
 * repeats: each target keeps its last scrape's, to find the series that
 * vanished (a merge walk against this scrape's).  An exact-size array costs
 * a third of the memory of a hash set per series, and the refs of a scrape
 * come nearly sorted (a target's series are created together, with
 * consecutive ids), so sorting is mostly a check. */
typedef struct {
    tsdb_ref *v;
    size_t n;
} ref_list;

/* This scrape's refs as they come (scrape thread; one for all targets). */
typedef struct {
    tsdb_ref *v;
    size_t n, cap;
} ref_scratch;

static void ref_scratch_add(ref_scratch *s, tsdb_ref r) {
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 1024;
        s->v = xrealloc(s->v, s->cap * sizeof *s->v);
    }
    s->v[s->n++] = r;
}

static int cmp_ref(const void *a, const void *b) {
    tsdb_ref x = *(const tsdb_ref *)a, y = *(const tsdb_ref *)b;
    return x < y ? -1 : x > y;
}

/* Sorts the scratch and drops repeats in place. */
static void ref_scratch_normalise(ref_scratch *s) {
    int sorted = 1;
    for (size_t i = 1; i < s->n && sorted; i++) sorted = s->v[i - 1] <= s->v[i];
    if (!sorted) qsort(s->v, s->n, sizeof *s->v, cmp_ref);
    size_t w = 0;
    for (size_t i = 0; i < s->n; i++)
        if (!w || s->v[w - 1] != s->v[i]) s->v[w++] = s->v[i];
    s->n = w;
}

static void ref_list_free(ref_list *l) {
    free(l->v);
    memset(l, 0, sizeof *l);
}

/* ------------------------------------------------------------ state */

/* One metric family's metadata as a target exposes it. */
typedef struct metric_meta {
    char *name, *help, *unit;
    expfmt_type type;
} metric_meta;

static void meta_free(metric_meta *v, size_t n) {
    for (size_t i = 0; i < n; i++) {
        free(v[i].name);
        free(v[i].help);
        free(v[i].unit);
    }
    free(v);
}

typedef enum { HEALTH_UNKNOWN, HEALTH_UP, HEALTH_DOWN } target_health;

struct scrape_job;

typedef struct scrape_target {
    target_def def;
    struct scrape_job *job;
    int64_t next_ms;               /* wall clock of the next scrape */
    int scheduled;                 /* in the manager's schedule (idle) */
    int64_t deadline_us;           /* the httpget transfer's timeout (mono_seconds() µs) */
    int64_t attempt_us;            /* the httpget_wake_us() in the deadlines heap, 0: none */
    int in_lookups;                /* in the manager's lookups list */
    /* The transfer in flight: on httpget (plain http without a proxy) or
     * on libcurl (easy != NULL); see transfer_busy().  A curl handle lives
     * for one scrape: kept between scrapes, the handles cost 28 bytes per
     * scraped series (curl's receive buffer and state) for 2.5% of the
     * scrape CPU, and memory per series is the scarcer budget. */
    CURL *easy;
    httpget http;                  /* its connection is kept between scrapes */
    char *http_host;               /* "host\0port\0" of the address; NULL: not split yet */
    buf request;                   /* httpget's request, kept unless credentials come from files */
    int use_curl;                  /* the target answered with a redirect: libcurl follows them */
    int curl_added;                /* easy is in the multi handle */
    struct curl_slist *headers, *connect_to;
    char *request_url;
    buf body;                      /* as received: gzip-compressed when gzip */
    int body_exceeded;
    int gzip;                      /* Content-Encoding: gzip */
    char status_text[96];
    char curl_error[CURL_ERROR_SIZE];
    int64_t start_ms;
    double start_mono;
    /* Storage state. */
    series_cache cache;
    uint8_t cache_openmetrics;     /* the format its texts were parsed in */
    uint64_t iter;
    ref_list prev;                 /* series of the previous scrape */
    tsdb_ref report_refs[NREPORT];
    int have_report_refs;
    /* Metric metadata of the last scrape (HELP, TYPE, UNIT), for
     * /api/v1/metadata; replaced under the manager lock when it changes. */
    struct metric_meta *meta;
    size_t nmeta;
    uint64_t meta_hash;
    /* Displayed state (written under the manager lock). */
    char last_error[512];
    int64_t last_scrape_ms;        /* 0: never */
    double last_duration;
    target_health health;
} scrape_target;

typedef struct scrape_job {
    char *name;
    const config_scrape *cfg;      /* in the manager's current config */
    scrape_target **targets;
    size_t ntargets;
    target_defs dropped;
    file_sd_state *sd;             /* one per file_sd_configs entry */
    size_t nsd;
} scrape_job;

typedef struct {
    uint64_t scrapes, failures, samples_appended, exceeded_sample_limit, exceeded_body_size_limit;
    uint64_t out_of_order, duplicate, label_limit_failures, commit_failures;
    uint64_t duration_buckets[NBUCKETS];
    uint64_t duration_count;
    double duration_sum;
} scrape_stats;

/* Metadata of one body while it is parsed: strings copied into one
 * reused buffer (the parser's HELP text does not outlive the next item). */
typedef struct {
    size_t name_off, name_len, help_off, help_len, unit_off, unit_len;
    expfmt_type type;
} meta_rec;

typedef struct {
    meta_rec *v;
    size_t n, cap;
    buf text;
} meta_seen;

struct scrape_manager {
    tsdb *db;
    char *user_agent;
    double retention_every_s, file_sd_poll_s;
    pthread_t thread;
    pthread_mutex_t lock;
    /* Under lock. */
    promlite_config *pending;
    int stop;
    scrape_job **jobs;
    size_t njobs;
    scrape_stats stats;
    /* Scrape thread only. */
    promlite_config *cfg;
    CURLM *multi;
    int epfd, wakefd;              /* the thread's epoll set; eventfd for wake-ups */
    double curl_due;               /* mono_seconds() of curl's next timeout call; < 0 none */
    /* The heaps hold target pointers: schedule_all() rebuilds both
     * whenever targets may have gone away, before they are looked at. */
    minheap schedule;              /* idle targets by next_ms */
    minheap deadlines;             /* httpget transfers by deadline_us; finished ones are dropped at the top */
    /* Targets whose httpget transfer waits for a name lookup (polled);
     * entries that moved on are dropped when the list is next walked. */
    struct scrape_target **lookups;
    size_t nlookups, lookups_cap;
    httpget_resolver resolver;
    int curl_transfers;            /* transfers on libcurl: collect_done() has work */
    expfmt_parser *parser;         /* reset for each body (expfmt_reset) */
    meta_seen seen;                /* the metadata of the body being stored */
    int64_t next_due_ms;           /* wall clock: the schedule's first scrape */
    tsdb_appender *app;
    relabel_builder rb;
    label *scratch;                /* label work space of cache misses */
    order_scratch order;           /* series order of the scrape being stored */
    ref_scratch cur;               /* the refs it produced */
    struct libdeflate_decompressor *inflater;
    buf plain;                     /* the inflated body being stored */
    size_t scratch_cap;
    double next_retention;
    int64_t next_sd_check;
};

static int transfer_busy(const scrape_target *t) { return t->easy || t->http.state != HTTPGET_IDLE; }

/* ------------------------------------------------------------ targets */

/* First scrape time: the next instant t >= now with t mod interval equal to
 * the target's offset (its hash mod interval), as Prometheus's
 * Target.offset. */
static int64_t first_scrape_ms(const target_def *d, int64_t now) {
    int64_t iv = d->interval_ms;
    int64_t off = (int64_t)(d->hash % (uint64_t)iv);
    int64_t t = now - now % iv + off;
    if (t < now) t += iv;
    return t;
}

static scrape_target *target_new(scrape_job *job, target_def *def, int64_t now) {
    scrape_target *t = xcalloc(1, sizeof *t);
    t->def = *def;
    memset(def, 0, sizeof *def);
    t->job = job;
    t->next_ms = first_scrape_ms(&t->def, now);
    httpget_init(&t->http);
    return t;
}

/* Ends a target's transfer, if one is in flight, and frees its handle. */
static void transfer_cleanup(scrape_manager *m, scrape_target *t) {
    if (!t->easy) return;
    if (t->curl_added) m->curl_transfers--;
    t->curl_added = 0;
    curl_multi_remove_handle(m->multi, t->easy); /* a no-op when it never got in */
    curl_easy_cleanup(t->easy);
    t->easy = NULL;
    curl_slist_free_all(t->headers);
    curl_slist_free_all(t->connect_to);
    t->headers = t->connect_to = NULL;
    free(t->request_url);
    t->request_url = NULL;
}

static void target_free(scrape_manager *m, scrape_target *t) {
    transfer_cleanup(m, t);
    httpget_close(&t->http, &m->resolver);
    free(t->http_host);
    buf_free(&t->request);
    meta_free(t->meta, t->nmeta);
    buf_free(&t->body);
    cache_clear(&t->cache);
    ref_list_free(&t->prev);
    target_def_free(&t->def);
    free(t);
}

/* Buffers staleness markers at ts for every series of the target's last
 * scrape, its report series included (a target that goes away). */
static void target_mark_all_stale(scrape_manager *m, scrape_target *t, int64_t ts) {
    for (size_t i = 0; i < t->prev.n; i++) tsdb_appender_add(m->app, t->prev.v[i], ts, stale_nan());
    if (t->have_report_refs && t->last_scrape_ms)
        for (int i = 0; i < NREPORT; i++)
            if (t->report_refs[i]) tsdb_appender_add(m->app, t->report_refs[i], ts, stale_nan());
}

/* Commits what the appender holds outside a scrape (staleness markers of
 * removed targets). */
static void commit_pending(scrape_manager *m) {
    if (!tsdb_appender_pending(m->app)) return;
    tsdb_append_stats st;
    errbuf err;
    if (tsdb_appender_commit(m->app, &st, &err)) {
        fprintf(stderr, "promlite: scrape: storing staleness markers: %s\n", err.msg);
        pthread_mutex_lock(&m->lock);
        m->stats.commit_failures++;
        pthread_mutex_unlock(&m->lock);
    }
}

/* ------------------------------------------------------------ transfers */

/* The smallest a gzip stream of n bytes can inflate to is a little under
 * n (stored blocks: 5 bytes a 64 KiB block, 18 of header and trailer), so
 * a compressed body past this bound is over the limit already. */
static uint64_t gzip_bound(uint64_t limit) { return limit + limit / 8192 + 64; }

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud) {
    scrape_target *t = ud;
    size_t n = size * nmemb;
    uint64_t limit = t->job->cfg->body_size_limit;
    if (limit && t->gzip) limit = gzip_bound(limit);
    /* Prometheus fails a body of limit bytes or more (the compressed
     * bound is only a "cannot fit" test). */
    if (limit && (t->gzip ? t->body.len + n > limit : t->body.len + n >= limit)) {
        t->body_exceeded = 1;
        return 0; /* aborts the transfer: CURLE_WRITE_ERROR */
    }
    buf_append(&t->body, data, n);
    return n;
}

/* Keeps the last status line's "CODE REASON" for error messages. */
static size_t on_header(char *data, size_t size, size_t nmemb, void *ud) {
    scrape_target *t = ud;
    size_t n = size * nmemb;
    if (n > 17 && !strncasecmp(data, "Content-Encoding:", 17)) {
        const char *v = data + 17;
        size_t vl = n - 17;
        while (vl && (*v == ' ' || *v == '\t')) v++, vl--;
        while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' ')) vl--;
        t->gzip = vl == 4 && !memcmp(v, "gzip", 4); /* Prometheus compares exactly */
    }
    if (n > 5 && !memcmp(data, "HTTP/", 5)) {
        t->gzip = 0; /* a new response (after a redirect) */
        const char *sp = memchr(data, ' ', n);
        if (sp) {
            size_t len = n - (size_t)(sp + 1 - data);
            while (len && (sp[1 + len - 1] == '\r' || sp[1 + len - 1] == '\n' || sp[1 + len - 1] == ' ')) len--;
            if (len >= sizeof t->status_text) len = sizeof t->status_text - 1;
            memcpy(t->status_text, sp + 1, len);
            t->status_text[len] = 0;
        }
    }
    return n;
}

/* Reads a credentials file as Prometheus does (surrounding white space
 * trimmed).  Returns a heap string or NULL. */
static char *read_secret(const char *path) {
    size_t len;
    char *text = read_small_file(path, 1u << 20, &len);
    if (!text) return NULL;
    size_t s = 0, e = len;
    while (s < e && isspace((unsigned char)text[s])) s++;
    while (e > s && isspace((unsigned char)text[e - 1])) e--;
    char *out = xstrndup(text + s, e - s);
    free(text);
    return out;
}

static long tls_version(const char *v) {
    if (!v) return 0;
    if (!strcmp(v, "TLS10")) return CURL_SSLVERSION_TLSv1_0;
    if (!strcmp(v, "TLS11")) return CURL_SSLVERSION_TLSv1_1;
    if (!strcmp(v, "TLS12")) return CURL_SSLVERSION_TLSv1_2;
    if (!strcmp(v, "TLS13")) return CURL_SSLVERSION_TLSv1_3;
    return 0;
}

static long tls_max_version(const char *v) {
    if (!v) return 0;
    if (!strcmp(v, "TLS10")) return CURL_SSLVERSION_MAX_TLSv1_0;
    if (!strcmp(v, "TLS11")) return CURL_SSLVERSION_MAX_TLSv1_1;
    if (!strcmp(v, "TLS12")) return CURL_SSLVERSION_MAX_TLSv1_2;
    if (!strcmp(v, "TLS13")) return CURL_SSLVERSION_MAX_TLSv1_3;
    return 0;
}

/* With tls_config.server_name, the request goes to https://SERVER_NAME/...
 * (so that SNI and certificate verification use it) while the connection
 * is made to the target's address (CURLOPT_CONNECT_TO) and the Host header
 * stays the address, as Go's tls.Config.ServerName behaves. */
static void setup_server_name(scrape_target *t, const char *server_name) {
    const char *addr = t->def.address;
    const char *colon = addr[0] == '[' ? strstr(addr, "]:") : strrchr(addr, ':');
    if (colon && addr[0] == '[') colon++;
    const char *port = colon ? colon + 1 : "443";
    size_t hostlen = colon ? (size_t)(colon - addr) : strlen(addr);
    const char *rest = strstr(t->def.url, "://");
    rest = rest ? strchr(rest + 3, '/') : NULL;
    buf u = {0};
    buf_printf(&u, "https://%s:%s%s", server_name, port, rest ? rest : "/");
    buf_append(&u, "", 1);
    t->request_url = (char *)u.data;
    char ct[1024];
    snprintf(ct, sizeof ct, "%s:%s:%.*s:%s", server_name, port, (int)hostlen, addr, port);
    t->connect_to = curl_slist_append(NULL, ct);
}

/* Basic auth's password (a heap string, NULL when its file cannot be
 * read); a password_file is read for every scrape. */
static char *basic_auth_password(const config_basic_auth *ba) {
    return ba->password_file ? read_secret(ba->password_file)
                             : xstrndup(ba->password ? ba->password : "", ba->password ? strlen(ba->password) : 0);
}

/* The authorization credentials (a heap string, NULL when the
 * credentials_file cannot be read), read for every scrape. */
static char *authorization_credentials(const config_authorization *a) {
    return a->credentials_file ? read_secret(a->credentials_file)
                               : xstrndup(a->credentials ? a->credentials : "", a->credentials ? strlen(a->credentials) : 0);
}

/* The request headers of t.  A credentials_file is read for every scrape,
 * as Prometheus reads it per request. */
static struct curl_slist *request_headers(const scrape_target *t) {
    const config_scrape *sc = t->job->cfg;
    char line[1024], num[FLOAT_TEXT_MAX];
    struct curl_slist *h = curl_slist_append(NULL, ACCEPT_HEADER);
    /* gzip is asked for here and inflated by gunzip(), not by libcurl: see
     * there. */
    h = curl_slist_append(h, "Accept-Encoding: gzip");
    snprintf(line, sizeof line, "X-Prometheus-Scrape-Timeout-Seconds: %s",
             format_float((double)t->def.timeout_ms / 1000.0, num));
    h = curl_slist_append(h, line);
    if (sc->authorization) {
        const config_authorization *a = sc->authorization;
        char *cred = authorization_credentials(a);
        if (cred) {
            buf b = {0};
            buf_printf(&b, "Authorization: %s %s", a->type ? a->type : "Bearer", cred);
            buf_append(&b, "", 1);
            h = curl_slist_append(h, (const char *)b.data);
            buf_free(&b);
            free(cred);
        }
    }
    if (t->request_url) { /* tls_config.server_name: see setup_server_name() */
        buf b = {0};
        buf_printf(&b, "Host: %s", t->def.address);
        buf_append(&b, "", 1);
        h = curl_slist_append(h, (const char *)b.data);
        buf_free(&b);
    }
    return h;
}

static void set_basic_auth_password(CURL *e, const config_basic_auth *ba) {
    char *pw = basic_auth_password(ba);
    curl_easy_setopt(e, CURLOPT_PASSWORD, pw ? pw : "");
    free(pw); /* libcurl copies string options */
}

/* Creates the easy handle of t with everything the job's HTTP settings ask
 * for.  Returns 0, or -1 when libcurl has no handle to give. */
static int transfer_setup(scrape_manager *m, scrape_target *t) {
    const config_scrape *sc = t->job->cfg;
    CURL *e = curl_easy_init();
    if (!e) return -1;
    t->easy = e;
    const config_tls *tls = &sc->tls;
    if (tls->server_name && !strncmp(t->def.url, "https://", 8)) setup_server_name(t, tls->server_name);
    t->headers = request_headers(t);
    if (sc->basic_auth) {
        curl_easy_setopt(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(e, CURLOPT_USERNAME, sc->basic_auth->username ? sc->basic_auth->username : "");
        set_basic_auth_password(e, sc->basic_auth);
    }
    curl_easy_setopt(e, CURLOPT_URL, t->request_url ? t->request_url : t->def.url);
    if (t->connect_to) curl_easy_setopt(e, CURLOPT_CONNECT_TO, t->connect_to);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
    curl_easy_setopt(e, CURLOPT_PRIVATE, t);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, t);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->curl_error);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    /* What is left of scrape_timeout: a redirect handed over from httpget
     * has used some of it already. */
    long timeout_ms = (long)t->def.timeout_ms - (long)((mono_seconds() - t->start_mono) * 1000);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms > 1 ? timeout_ms : 1L);
    curl_easy_setopt(e, CURLOPT_USERAGENT, m->user_agent);
    /* Prometheus 2.42 uses proxy_url only, never the environment. */
    curl_easy_setopt(e, CURLOPT_PROXY, sc->proxy_url ? sc->proxy_url : "");
    curl_easy_setopt(e, CURLOPT_NOPROXY, ""); /* nor no_proxy (and no getenv per transfer) */
    /* Resolve the name afresh for each new connection, as Go does; kept
     * connections need no name.  It also keeps libcurl's name cache empty:
     * curl walks all of it after every transfer, one entry per target. */
    curl_easy_setopt(e, CURLOPT_DNS_CACHE_TIMEOUT, 0L);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, sc->follow_redirects ? 1L : 0L);
    curl_easy_setopt(e, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION,
                     sc->enable_http2 ? (long)CURL_HTTP_VERSION_2TLS : (long)CURL_HTTP_VERSION_1_1);
    if (tls->ca_file) curl_easy_setopt(e, CURLOPT_CAINFO, tls->ca_file);
    if (tls->cert_file) curl_easy_setopt(e, CURLOPT_SSLCERT, tls->cert_file);
    if (tls->key_file) curl_easy_setopt(e, CURLOPT_SSLKEY, tls->key_file);
    if (tls->insecure_skip_verify) {
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    long minv = tls->min_version ? tls_version(tls->min_version) : CURL_SSLVERSION_TLSv1_2;
    curl_easy_setopt(e, CURLOPT_SSLVERSION, minv | tls_max_version(tls->max_version));
    return 0;
}

static void store_answer(scrape_manager *m, scrape_target *t, int openmetrics, const char *error);

/* Starts t's scrape on libcurl: sets up its handle (reading the secrets
 * that live in files) and adds it to the multi handle.  A handle that
 * cannot be had is a failed scrape. */
static void curl_transfer_start(scrape_manager *m, scrape_target *t) {
    buf_reset(&t->body);
    t->body_exceeded = 0;
    t->gzip = 0;
    t->status_text[0] = 0;
    t->curl_error[0] = 0;
    if (transfer_setup(m, t) == 0 && curl_multi_add_handle(m->multi, t->easy) == CURLM_OK) {
        m->curl_transfers++;
        t->curl_added = 1;
        return;
    }
    transfer_cleanup(m, t);
    store_answer(m, t, 0, "could not create a transfer");
}

/* Splits t's address into host and port for httpget (once).  Returns 0
 * when httpget serves t: plain http, no proxy, no redirect seen. */
static int http_target_ready(scrape_target *t) {
    if (t->use_curl || t->job->cfg->proxy_url || strncmp(t->def.url, "http://", 7)) return -1;
    if (t->http_host) return 0;
    const char *a = t->def.address, *host = a, *colon;
    size_t hl;
    if (a[0] == '[') {
        const char *rb = strchr(a, ']');
        if (!rb || rb[1] != ':') return -1;
        host = a + 1;
        hl = (size_t)(rb - host);
        colon = rb + 1;
    } else {
        colon = strrchr(a, ':');
        if (!colon || memchr(a, ':', (size_t)(colon - a))) return -1;
        hl = (size_t)(colon - a);
    }
    size_t pl = strlen(colon + 1);
    if (!hl || !pl) return -1;
    t->http_host = xmalloc(hl + pl + 2);
    memcpy(t->http_host, host, hl);
    t->http_host[hl] = 0;
    memcpy(t->http_host + hl + 1, colon + 1, pl + 1);
    return 0;
}

static int has_line_break(const char *s) { return strchr(s, '\r') || strchr(s, '\n'); }

/* Builds in t->request what Prometheus 2.42 sends for a scrape: the
 * headers of request_headers() plus Host, User-Agent and the credentials.
 * The text stays the same scrape after scrape (a target's job settings do
 * not change under it) unless a credential is read from a file, which
 * Prometheus reads for every request; so it is built once, or per scrape
 * then.  Returns 0, or -1 with errtext when a credential cannot be a
 * header value (Go refuses such a request too). */
static int build_request(scrape_manager *m, scrape_target *t, char *errtext, size_t errlen) {
    const config_scrape *sc = t->job->cfg;
    buf *r = &t->request;
    int from_files = (sc->basic_auth && sc->basic_auth->password_file) ||
                     (sc->authorization && sc->authorization->credentials_file);
    if (r->len && !from_files) return 0;
    char num[FLOAT_TEXT_MAX];
    const char *path = strchr(t->def.url + 7, '/');
    buf_reset(r);
    buf_printf(r,
               "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: %s\r\n" ACCEPT_HEADER
               "\r\nAccept-Encoding: gzip\r\nX-Prometheus-Scrape-Timeout-Seconds: %s\r\n",
               path ? path : "/", t->def.address, m->user_agent,
               format_float((double)t->def.timeout_ms / 1000.0, num));
    if (sc->basic_auth) {
        const config_basic_auth *ba = sc->basic_auth;
        char *pw = basic_auth_password(ba);
        buf plain = {0};
        buf_printf(&plain, "%s:%s", ba->username ? ba->username : "", pw ? pw : "");
        free(pw);
        char *b64 = xmalloc(base64_encoded_size(plain.len));
        base64_encode(plain.data, plain.len, b64);
        buf_printf(r, "Authorization: Basic %s\r\n", b64);
        free(b64);
        buf_free(&plain);
    } else if (sc->authorization) {
        const config_authorization *a = sc->authorization;
        char *cred = authorization_credentials(a);
        const char *type = a->type ? a->type : "Bearer";
        if (cred && (has_line_break(cred) || has_line_break(type))) {
            free(cred);
            snprintf(errtext, errlen, "Get \"%s\": net/http: invalid header field value for \"Authorization\"",
                     t->def.url);
            buf_reset(r);
            return -1;
        }
        if (cred) buf_printf(r, "Authorization: %s %s\r\n", type, cred);
        free(cred);
    }
    buf_append(r, "\r\n", 2);
    return 0;
}

static void http_done(scrape_manager *m, scrape_target *t, int result);

/* Puts the end of t's connect attempt (httpget_wake_us) in the deadlines
 * heap when it has a new one. */
static void http_watch_attempt(scrape_manager *m, scrape_target *t) {
    int64_t w = httpget_wake_us(&t->http);
    if (!w || w == t->attempt_us) return;
    t->attempt_us = w;
    minheap_push(&m->deadlines, w, t);
}

/* Puts t on the list of transfers waiting for a name lookup. */
static void note_lookup(scrape_manager *m, scrape_target *t) {
    if (t->http.state != HTTPGET_RESOLVING || t->in_lookups) return;
    if (m->nlookups == m->lookups_cap) {
        m->lookups_cap = m->lookups_cap ? m->lookups_cap * 2 : 16;
        m->lookups = xrealloc(m->lookups, m->lookups_cap * sizeof *m->lookups);
    }
    m->lookups[m->nlookups++] = t;
    t->in_lookups = 1;
}

/* Hands an httpget result on: done or failed ends the scrape, more may
 * come with a new connect attempt to watch. */
static void http_progress(scrape_manager *m, scrape_target *t, int result) {
    if (result != HTTPGET_MORE) http_done(m, t, result);
    else http_watch_attempt(m, t);
}

/* Starts t's scrape on httpget; its epoll tag is the target's address
 * with the low bit set (see scrape_thread()). */
static void http_transfer_start(scrape_manager *m, scrape_target *t) {
    char error[768];
    buf_reset(&t->body);
    t->body_exceeded = 0;
    t->gzip = 0;
    if (build_request(m, t, error, sizeof error)) {
        store_answer(m, t, 0, error);
        return;
    }
    uint64_t limit = t->job->cfg->body_size_limit;
    const char *host = t->http_host, *port = host + strlen(host) + 1;
    t->deadline_us = (int64_t)(t->start_mono * 1e6) + t->def.timeout_ms * 1000;
    t->attempt_us = 0;
    int r = httpget_start(&t->http, m->epfd, (uint64_t)(uintptr_t)t | 1, host, port, (const char *)t->request.data,
                          t->request.len, &t->body, limit, limit ? gzip_bound(limit) : 0, t->deadline_us);
    if (r != HTTPGET_MORE) {
        http_done(m, t, r);
        return;
    }
    minheap_push(&m->deadlines, t->deadline_us, t);
    http_watch_attempt(m, t);
    note_lookup(m, t);
}

/* Starts the scrape of t, on httpget when it can serve the target and on
 * libcurl otherwise.  A scrape that cannot start is stored as failed. */
static void transfer_start(scrape_manager *m, scrape_target *t, int64_t now) {
    t->start_ms = now;
    t->start_mono = mono_seconds();
    if (http_target_ready(t) == 0) http_transfer_start(m, t);
    else curl_transfer_start(m, t);
}

/* ------------------------------------------------------------ storing */

typedef struct {
    uint64_t scraped, post_relabel, series_added;
    uint64_t distinct;             /* cache entries this scrape saw */
} scrape_counts;

static label *scratch_labels(scrape_manager *m, size_t n) {
    if (n > m->scratch_cap) {
        m->scratch_cap = n + 32;
        m->scratch = xrealloc(m->scratch, m->scratch_cap * sizeof *m->scratch);
    }
    return m->scratch;
}

static const label *find_label(const label *v, size_t n, const char *name, size_t nl) {
    for (size_t i = 0; i < n; i++)
        if (v[i].name_len == nl && !memcmp(v[i].name, name, nl)) return &v[i];
    return NULL;
}

/* Sets name=value in v[0..*n) (replacing an existing name). */
static void set_label(label *v, size_t *n, label l) {
    for (size_t i = 0; i < *n; i++)
        if (v[i].name_len == l.name_len && !memcmp(v[i].name, l.name, l.name_len)) {
            v[i].value = l.value;
            v[i].value_len = l.value_len;
            return;
        }
    v[(*n)++] = l;
}

typedef struct {
    label l;        /* name points into names */
    size_t order;   /* for a stable sort */
} conflict;

static int conflict_cmp(const void *a, const void *b) {
    const conflict *x = a, *y = b;
    if (x->l.name_len != y->l.name_len) return x->l.name_len < y->l.name_len ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

/* Prometheus's Go "%.50q" for error messages, approximately. */
static void quote50(const char *s, size_t n, char *out, size_t cap) {
    size_t o = 0;
    if (n > 50) n = 50;
    out[o++] = '"';
    for (size_t i = 0; i < n && o + 3 < cap; i++) {
        if (s[i] == '"' || s[i] == '\\') out[o++] = '\\';
        out[o++] = s[i];
    }
    out[o++] = '"';
    out[o] = 0;
}

/* Prometheus's verifyLabelLimits, with its error texts. */
static int check_label_limits(const config_scrape *sc, const label *v, size_t n, char *errtext, size_t errlen) {
    const label *name = find_label(v, n, METRIC_NAME_LABEL, 8);
    int ml = name ? (int)(name->value_len > 50 ? 50 : name->value_len) : 0;
    const char *mv = name ? name->value : "";
    if (sc->label_limit && n > sc->label_limit) {
        snprintf(errtext, errlen, "label_limit exceeded (metric: %.*s, number of labels: %zu, limit: %llu)", ml, mv,
                 n, (unsigned long long)sc->label_limit);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        int nl = (int)(v[i].name_len > 50 ? 50 : v[i].name_len);
        if (sc->label_name_length_limit && v[i].name_len > sc->label_name_length_limit) {
            snprintf(errtext, errlen,
                     "label_name_length_limit exceeded (metric: %.*s, label name: %.*s, length: %u, limit: %llu)", ml,
                     mv, nl, v[i].name, v[i].name_len, (unsigned long long)sc->label_name_length_limit);
            return -1;
        }
        if (sc->label_value_length_limit && v[i].value_len > sc->label_value_length_limit) {
            char q[160];
            quote50(v[i].value, v[i].value_len, q, sizeof q);
            snprintf(errtext, errlen,
                     "label_value_length_limit exceeded (metric: %.*s, label name: %.*s, value: %s, length: %u, "
                     "limit: %llu)",
                     ml, mv, nl, v[i].name, q, v[i].value_len, (unsigned long long)sc->label_value_length_limit);
            return -1;
        }
    }
    return 0;
}

/* The label work of a cache miss, as Prometheus's mutateSampleLabels:
 * merges the target labels into the scraped set (honor_labels keeps the
 * scraped value; otherwise the target wins and the scraped value moves to
 * exported_NAME, with more prefixes until the name is free), applies
 * metric_relabel_configs and checks the label limits.  Sets *dropped, or
 * *ref (0 when the storage rejects the set).  Returns -1 with errtext for a
 * limit, which fails the scrape. */
static int resolve_series(scrape_manager *m, scrape_target *t, const expfmt_sample *s, tsdb_ref *ref, int *dropped,
                          char *errtext, size_t errlen) {
    const config_scrape *sc = t->job->cfg;
    const owned_labels *tl = &t->def.labels;
    size_t nex = s->nlabels + 1;
    label *all = scratch_labels(m, 2 * nex + 2 * tl->n + 2);
    label *ex = all, *res = all + nex;
    ex[0] = (label){METRIC_NAME_LABEL, 8, s->metric, (uint32_t)s->metric_len};
    for (size_t i = 0; i < s->nlabels; i++)
        ex[i + 1] = (label){s->labels[i].name, (uint32_t)s->labels[i].name_len, s->labels[i].value,
                            (uint32_t)s->labels[i].value_len};
    memcpy(res, ex, nex * sizeof *ex);
    size_t nres = nex;
    char **names = NULL;
    size_t nnames = 0;
    if (sc->honor_labels) {
        for (size_t i = 0; i < tl->n; i++)
            if (!find_label(ex, nex, tl->v[i].name, tl->v[i].name_len)) res[nres++] = tl->v[i];
    } else {
        conflict *conf = xmalloc((tl->n ? tl->n : 1) * sizeof *conf);
        size_t nconf = 0;
        for (size_t i = 0; i < tl->n; i++) {
            const label *exist = find_label(ex, nex, tl->v[i].name, tl->v[i].name_len);
            if (exist && exist->value_len) {
                conf[nconf].l = (label){tl->v[i].name, tl->v[i].name_len, exist->value, exist->value_len};
                conf[nconf].order = nconf;
                nconf++;
            }
            set_label(res, &nres, tl->v[i]);
        }
        if (nconf) {
            qsort(conf, nconf, sizeof *conf, conflict_cmp);
            names = xmalloc(nconf * sizeof *names);
            for (size_t i = 0; i < nconf; i++) {
                buf nm = {0};
                buf_append(&nm, conf[i].l.name, conf[i].l.name_len);
                for (;;) {
                    buf pre = {0};
                    buf_append(&pre, "exported_", 9);
                    buf_append(&pre, nm.data, nm.len);
                    buf_free(&nm);
                    nm = pre;
                    const char *nn = (const char *)nm.data;
                    uint32_t nl = (uint32_t)nm.len;
                    int taken = find_label(ex, nex, nn, nl) || find_label(tl->v, tl->n, nn, nl);
                    for (size_t k = 0; k < i && !taken; k++)
                        taken = conf[k].l.name_len == nl && !memcmp(conf[k].l.name, nn, nl);
                    if (!taken) break;
                }
                buf_append(&nm, "", 1);
                names[nnames++] = (char *)nm.data;
                conf[i].l.name = names[nnames - 1];
                conf[i].l.name_len = (uint32_t)(nm.len - 1);
            }
            for (size_t i = 0; i < nconf; i++) set_label(res, &nres, conf[i].l);
        }
        free(conf);
    }
    int kept = relabel_apply(sc->metric_relabel_rules, sc->nmetric_relabel, res, nres, &m->rb);
    for (size_t i = 0; i < nnames; i++) free(names[i]);
    free(names);
    *ref = 0;
    *dropped = 0;
    if (!kept || m->rb.n == 0) {
        *dropped = 1;
        return 0;
    }
    if (check_label_limits(sc, m->rb.labels, m->rb.n, errtext, errlen)) return -1;
    label *fin = scratch_labels(m, m->rb.n);
    memcpy(fin, m->rb.labels, m->rb.n * sizeof *fin);
    errbuf err;
    if (tsdb_appender_ref(m->app, fin, m->rb.n, ref, &err)) *ref = 0;
    return 0;
}

/* Records a HELP, TYPE or UNIT line; a family's lines come together, so
 * only the last record can be the same family. */
static void meta_note(meta_seen *s, expfmt_kind k, const expfmt_meta *mm, uint64_t *hash) {
    meta_rec *r = NULL;
    if (s->n && s->v[s->n - 1].name_len == mm->name_len &&
        !memcmp(s->text.data + s->v[s->n - 1].name_off, mm->name, mm->name_len))
        r = &s->v[s->n - 1];
    if (!r) {
        if (s->n == s->cap) {
            s->cap = s->cap ? s->cap * 2 : 64;
            s->v = xrealloc(s->v, s->cap * sizeof *s->v);
        }
        r = &s->v[s->n++];
        memset(r, 0, sizeof *r);
        r->name_off = s->text.len;
        r->name_len = mm->name_len;
        buf_append(&s->text, mm->name, mm->name_len);
        r->type = EXPFMT_TYPE_UNKNOWN;
    }
    *hash = XXH3_64bits_withSeed(mm->name, mm->name_len, *hash * 31 + (uint64_t)k);
    if (k == EXPFMT_TYPE) {
        r->type = mm->type;
        *hash = *hash * 31 + (uint64_t)mm->type;
        return;
    }
    size_t off = s->text.len;
    buf_append(&s->text, mm->text, mm->text_len);
    *hash = XXH3_64bits_withSeed(mm->text, mm->text_len, *hash);
    if (k == EXPFMT_HELP) r->help_off = off, r->help_len = mm->text_len;
    else r->unit_off = off, r->unit_len = mm->text_len;
}

/* Publishes a scrape's metadata when it differs from the last one. */
static void meta_publish(scrape_manager *m, scrape_target *t, meta_seen *s, uint64_t hash) {
    if (hash == t->meta_hash && s->n == t->nmeta) return;
    metric_meta *v = xcalloc(s->n ? s->n : 1, sizeof *v);
    const char *base = (const char *)s->text.data;
    for (size_t i = 0; i < s->n; i++) {
        v[i].name = xstrndup(base + s->v[i].name_off, s->v[i].name_len);
        v[i].help = xstrndup(s->v[i].help_len ? base + s->v[i].help_off : "", s->v[i].help_len);
        v[i].unit = xstrndup(s->v[i].unit_len ? base + s->v[i].unit_off : "", s->v[i].unit_len);
        v[i].type = s->v[i].type;
    }
    pthread_mutex_lock(&m->lock);
    metric_meta *old = t->meta;
    size_t nold = t->nmeta;
    t->meta = v;
    t->nmeta = s->n;
    t->meta_hash = hash;
    pthread_mutex_unlock(&m->lock);
    meta_free(old, nold);
}

/* Parses the body and buffers its samples.  The refs this scrape produced
 * go to m->cur (for staleness).  Returns 0, or -1 with errtext: the
 * caller then discards the buffered samples. */
static int append_body(scrape_manager *m, scrape_target *t, const char *body, size_t body_len, int openmetrics,
                       int64_t ts,
                       scrape_counts *c, char *errtext, size_t errlen) {
    const config_scrape *sc = t->job->cfg;
    expfmt_format format = openmetrics ? EXPFMT_OPENMETRICS : EXPFMT_TEXT;
    if (m->parser) expfmt_reset(m->parser, format);
    else if (!(m->parser = expfmt_new(format))) {
        snprintf(errtext, errlen, "out of memory");
        return -1;
    }
    expfmt_parser *p = m->parser;
    expfmt_input(p, body, body_len, 1);
    int rc = 0, over_limit = 0;
    expfmt_item it;
    /* Metadata seen in this body, hashed as it comes so that an unchanged
     * set (the usual case) costs no copies; its buffers are the manager's,
     * reused scrape after scrape. */
    meta_seen *seen = &m->seen;
    seen->n = 0;
    buf_reset(&seen->text);
    uint64_t meta_hash = 0;
    /* The cache's texts were parsed in the format of the target's previous
     * scrape; the parser may trust them only in that format. */
    int expect = t->cache_openmetrics == openmetrics;
    t->cache_openmetrics = (uint8_t)openmetrics;
    for (;;) {
        cache_entry *predicted = NULL;
        if (expect && (size_t)c->scraped < t->cache.norder) {
            predicted = t->cache.order[c->scraped];
            cache_prefetch(&t->cache, (size_t)c->scraped);
            expfmt_expect(p, predicted->text, predicted->len);
        }
        expfmt_kind k = expfmt_next(p, &it);
        if (k == EXPFMT_END || k == EXPFMT_EOF) break;
        if (k == EXPFMT_ERROR) {
            snprintf(errtext, errlen, "%s", expfmt_error(p));
            rc = -1;
            break;
        }
        if (k == EXPFMT_HELP || k == EXPFMT_TYPE || k == EXPFMT_UNIT) {
            meta_note(seen, k, &it.meta, &meta_hash);
            continue;
        }
        if (k != EXPFMT_SAMPLE) continue;
        const expfmt_sample *s = &it.sample;
        cache_entry *e = s->expected ? predicted
                         : expect ? NULL
                                  : cache_predict(&t->cache, (size_t)c->scraped, s->series, s->series_len);
        c->scraped++;
        if (!e) {
            uint64_t h = XXH3_64bits(s->series, s->series_len);
            e = cache_find(&t->cache, s->series, s->series_len, h);
            if (!e) {
                tsdb_ref ref;
                int dropped;
                if (resolve_series(m, t, s, &ref, &dropped, errtext, errlen)) {
                    rc = -1;
                    break;
                }
                e = cache_add(&t->cache, s->series, s->series_len, h);
                e->ref = ref;
                e->dropped = (uint8_t)dropped;
                if (ref) c->series_added++;
            }
        }
        if (e->last_iter != (uint32_t)t->iter) c->distinct++;
        e->last_iter = (uint32_t)t->iter;
        order_note(&m->order, e);
        if (e->dropped || !e->ref) continue;
        c->post_relabel++;
        if (sc->sample_limit && c->post_relabel > sc->sample_limit) {
            over_limit = 1; /* Prometheus goes on counting */
            continue;
        }
        int64_t st = ts;
        if (sc->honor_timestamps && s->has_timestamp) st = s->timestamp_ms;
        else ref_scratch_add(&m->cur, e->ref);
        tsdb_appender_add(m->app, e->ref, st, s->value);
    }
    if (rc == 0 && expfmt_finish(p)) {
        snprintf(errtext, errlen, "%s", expfmt_error(p));
        rc = -1;
    }
    if (rc == 0 && over_limit) {
        snprintf(errtext, errlen, "sample limit exceeded");
        pthread_mutex_lock(&m->lock);
        m->stats.exceeded_sample_limit++;
        pthread_mutex_unlock(&m->lock);
        rc = -1;
    }
    if (rc == 0) meta_publish(m, t, seen, meta_hash);
    if (seen->text.cap > (1u << 20)) { /* one huge body does not pin its size */
        buf_free(&seen->text);
        free(seen->v);
        seen->v = NULL;
        seen->cap = 0;
    }
    return rc;
}

/* Buffers the five report series of a scrape. */
static void append_report(scrape_manager *m, scrape_target *t, int64_t ts, int up, double duration,
                          const scrape_counts *c) {
    if (!t->have_report_refs) {
        const owned_labels *tl = &t->def.labels;
        for (int i = 0; i < NREPORT; i++) {
            label *l = scratch_labels(m, tl->n + 1);
            memcpy(l, tl->v, tl->n * sizeof *l);
            l[tl->n] = (label){METRIC_NAME_LABEL, 8, report_names[i], (uint32_t)strlen(report_names[i])};
            errbuf err;
            if (tsdb_appender_ref(m->app, l, tl->n + 1, &t->report_refs[i], &err)) t->report_refs[i] = 0;
        }
        t->have_report_refs = 1;
    }
    double v[NREPORT] = {up, duration, (double)c->scraped, (double)c->post_relabel, (double)c->series_added};
    for (int i = 0; i < NREPORT; i++)
        if (t->report_refs[i]) tsdb_appender_add(m->app, t->report_refs[i], ts, v[i]);
}

/* Stores one finished scrape as one batch: its samples (unless it failed),
 * staleness markers, the report series; then publishes the target state. */
static void scrape_store(scrape_manager *m, scrape_target *t, const char *body, size_t body_len, int openmetrics,
                         const char *transport_error) {
    double duration = mono_seconds() - t->start_mono;
    int64_t ts = t->start_ms;
    char errtext[512] = "";
    scrape_counts c = {0};
    t->iter++;
    int ok = transport_error == NULL;
    if (!ok) snprintf(errtext, sizeof errtext, "%.*s", (int)sizeof errtext - 1, transport_error);
    m->cur.n = 0;
    if (ok && append_body(m, t, body, body_len, openmetrics, ts, &c, errtext, sizeof errtext)) {
        ok = 0;
        /* No rollback in the appender API: dropping it discards the buffer. */
        tsdb_appender_free(m->app);
        m->app = tsdb_appender_new(m->db);
        m->cur.n = 0;
    }
    /* Staleness: the previous scrape's series this one did not produce. */
    ref_scratch_normalise(&m->cur);
    for (size_t i = 0, j = 0; i < t->prev.n; i++) {
        while (j < m->cur.n && m->cur.v[j] < t->prev.v[i]) j++;
        if (j == m->cur.n || m->cur.v[j] != t->prev.v[i]) tsdb_appender_add(m->app, t->prev.v[i], ts, stale_nan());
    }
    if (t->prev.n != m->cur.n) {
        free(t->prev.v);
        t->prev.v = m->cur.n ? xmalloc(m->cur.n * sizeof *t->prev.v) : NULL;
        t->prev.n = m->cur.n;
    }
    if (m->cur.n) memcpy(t->prev.v, m->cur.v, m->cur.n * sizeof *t->prev.v);
    m->cur.n = 0;
    append_report(m, t, ts, ok, duration, &c);
    tsdb_append_stats st = {0};
    errbuf err;
    int commit_failed = tsdb_appender_commit(m->app, &st, &err);
    if (commit_failed) fprintf(stderr, "promlite: scrape %s: storing: %s\n", t->def.url, err.msg);
    if (!transport_error) cache_end_scrape(&t->cache, &m->order); /* the body was read */
    /* Nothing to evict when this scrape saw every entry (the usual case):
     * the scan would touch every entry for nothing. */
    if (ok && c.distinct != t->cache.count) cache_evict(&t->cache, t->iter);
    if (st.unknown_ref) { /* series removed by retention: resolve again */
        cache_clear(&t->cache);
        t->have_report_refs = 0;
    }
    pthread_mutex_lock(&m->lock);
    snprintf(t->last_error, sizeof t->last_error, "%s", errtext);
    t->last_scrape_ms = ts;
    t->last_duration = duration;
    t->health = ok ? HEALTH_UP : HEALTH_DOWN;
    scrape_stats *s = &m->stats;
    s->scrapes++;
    if (!ok) s->failures++;
    if (commit_failed) s->commit_failures++;
    s->samples_appended += st.appended;
    s->out_of_order += st.out_of_order;
    s->duplicate += st.duplicate;
    s->duration_count++;
    s->duration_sum += duration;
    for (size_t i = 0; i < NBUCKETS; i++)
        if (duration <= duration_buckets[i]) s->duration_buckets[i]++;
    if (t->body_exceeded) s->exceeded_body_size_limit++;
    pthread_mutex_unlock(&m->lock);
}

/* Inflates t's gzip body into m->plain.  Done here with libdeflate, in one
 * call over the whole body, rather than by libcurl through zlib in 16 KiB
 * steps: inflating was an eighth of a scrape's CPU, libdeflate does it in
 * well under half the time, and each target keeps only the compressed body
 * between scrapes (one inflated copy serves all targets, since storing is
 * one scrape at a time).  body_size_limit applies to the inflated size, as
 * in Prometheus.  Several gzip members follow one another as gzip -c a b
 * makes them.  Returns 0, or -1 with errtext. */
static int gunzip(scrape_manager *m, scrape_target *t, char *errtext, size_t errlen) {
    uint64_t limit = t->job->cfg->body_size_limit;
    const uint8_t *in = t->body.data;
    size_t in_len = t->body.len;
    if (!m->inflater && !(m->inflater = libdeflate_alloc_decompressor())) {
        snprintf(errtext, errlen, "gzip: out of memory");
        return -1;
    }
    buf_reset(&m->plain);
    if (in_len == 0) {
        snprintf(errtext, errlen, "gzip: unexpected EOF");
        return -1;
    }
    while (in_len) {
        /* The trailer's ISIZE (the size mod 2^32) of a single member is the
         * first guess; deflate cannot inflate more than 1032:1. */
        uint64_t guess = in_len >= 18 ? (uint64_t)in[in_len - 4] | (uint64_t)in[in_len - 3] << 8 |
                                            (uint64_t)in[in_len - 2] << 16 | (uint64_t)in[in_len - 1] << 24
                                      : 0;
        uint64_t most = (uint64_t)in_len * 1032 + 64;
        if (limit) {
            uint64_t room = limit + 1 > m->plain.len ? limit + 1 - m->plain.len : 1;
            if (room < most) most = room;
        }
        if (guess > most) guess = most;
        if (guess < 4096) guess = 4096 < most ? 4096 : most;
        for (;;) {
            buf_reserve(&m->plain, (size_t)guess);
            size_t used_in = 0, got = 0;
            enum libdeflate_result r = libdeflate_gzip_decompress_ex(
                m->inflater, in, in_len, m->plain.data + m->plain.len, m->plain.cap - m->plain.len, &used_in, &got);
            if (r == LIBDEFLATE_SUCCESS) {
                m->plain.len += got;
                in += used_in;
                in_len -= used_in;
                break;
            }
            if (r != LIBDEFLATE_INSUFFICIENT_SPACE) {
                snprintf(errtext, errlen, "gzip: invalid or truncated compressed data");
                return -1;
            }
            if (m->plain.cap - m->plain.len >= most) {
                if (limit && m->plain.len + (m->plain.cap - m->plain.len) > limit) {
                    t->body_exceeded = 1;
                    snprintf(errtext, errlen, "body size limit exceeded");
                } else {
                    snprintf(errtext, errlen, "gzip: invalid compressed data");
                }
                return -1;
            }
            guess = (m->plain.cap - m->plain.len) * 2;
            if (guess > most) guess = most;
        }
        if (limit && m->plain.len >= limit) { /* as Prometheus: limit bytes or more */
            t->body_exceeded = 1;
            snprintf(errtext, errlen, "body size limit exceeded");
            return -1;
        }
    }
    return 0;
}

/* "server returned HTTP status 404 Not Found", as Prometheus words it. */
static const char *status_error(long status, const char *status_text, char *out, size_t cap) {
    const char *reason = strchr(status_text, ' ');
    if (reason && reason[1]) snprintf(out, cap, "server returned HTTP status %s", status_text);
    else snprintf(out, cap, "server returned HTTP status %ld", status);
    return out;
}

/* Puts an idle target in the schedule for its next scrape. */
static void schedule_target(scrape_manager *m, scrape_target *t) {
    if (t->scheduled) return;
    t->scheduled = 1;
    minheap_push(&m->schedule, t->next_ms, t);
    if (t->next_ms < m->next_due_ms) m->next_due_ms = t->next_ms;
}

/* Builds the schedule and the deadlines afresh from the targets there are:
 * after targets changed (and some may have been freed). */
static void schedule_all(scrape_manager *m) {
    minheap_clear(&m->schedule);
    minheap_clear(&m->deadlines);
    m->nlookups = 0;
    m->next_due_ms = INT64_MAX;
    for (size_t i = 0; i < m->njobs; i++)
        for (size_t k = 0; k < m->jobs[i]->ntargets; k++) {
            scrape_target *t = m->jobs[i]->targets[k];
            t->scheduled = 0;
            t->in_lookups = 0;
            note_lookup(m, t);
            if (!transfer_busy(t)) schedule_target(m, t);
            else if (t->http.state != HTTPGET_IDLE) {
                minheap_push(&m->deadlines, t->deadline_us, t);
                if (t->attempt_us && httpget_wake_us(&t->http) == t->attempt_us)
                    minheap_push(&m->deadlines, t->attempt_us, t);
            }
        }
}

/* A curl transfer ended: works out its error in Prometheus's words, stores. */
static void transfer_done(scrape_manager *m, scrape_target *t, CURLcode code) {
    long status = 0;
    char *ctype = NULL;
    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(t->easy, CURLINFO_CONTENT_TYPE, &ctype);
    int openmetrics = ctype && !strncasecmp(ctype, "application/openmetrics-text", 28);
    char error[768];
    const char *e = NULL;
    if (t->body_exceeded) {
        e = "body size limit exceeded";
    } else if (code == CURLE_OPERATION_TIMEDOUT) {
        snprintf(error, sizeof error, "Get \"%s\": context deadline exceeded", t->def.url);
        e = error;
    } else if (code != CURLE_OK) {
        snprintf(error, sizeof error, "Get \"%s\": %s", t->def.url,
                 t->curl_error[0] ? t->curl_error : curl_easy_strerror(code));
        e = error;
    } else if (status != 200) {
        e = status_error(status, t->status_text, error, sizeof error);
    }
    transfer_cleanup(m, t);
    store_answer(m, t, openmetrics, e);
}

/* An httpget transfer ended with result (HTTPGET_DONE or _FAILED).  A
 * redirect that the job follows is handed to libcurl, which then does all
 * of the target's scrapes. */
static void http_done(scrape_manager *m, scrape_target *t, int result) {
    const httpget *h = &t->http;
    char error[768];
    const char *e = NULL;
    if (result == HTTPGET_FAILED) {
        if (h->body_exceeded) {
            t->body_exceeded = 1;
            e = "body size limit exceeded";
        } else {
            snprintf(error, sizeof error, "Get \"%s\": %s", t->def.url, h->error);
            e = error;
        }
    } else if (t->job->cfg->follow_redirects &&
               (h->status == 301 || h->status == 302 || h->status == 303 || h->status == 307 || h->status == 308)) {
        t->use_curl = 1;
        httpget_close(&t->http, &m->resolver);
        curl_transfer_start(m, t);
        return;
    } else if (h->status != 200) {
        e = status_error(h->status, h->status_text, error, sizeof error);
    }
    t->gzip = h->gzip;
    store_answer(m, t, !strncasecmp(h->content_type, "application/openmetrics-text", 28), e);
}

/* Stores the answer in t->body (gzip-compressed when t->gzip), or the
 * failure error, and makes the target due again. */
static void store_answer(scrape_manager *m, scrape_target *t, int openmetrics, const char *e) {
    char error[768];
    const char *body = (const char *)t->body.data;
    size_t body_len = t->body.len;
    if (!e && t->gzip) {
        if (gunzip(m, t, error, sizeof error)) {
            e = error;
        } else {
            body = (const char *)m->plain.data;
            body_len = m->plain.len;
        }
    }
    scrape_store(m, t, body, body_len, openmetrics, e);
    /* Between scrapes a target keeps no body: hundreds of idle buffers of
     * the largest body each target ever sent were a tenth of the memory per
     * series; allocating one per scrape costs next to nothing. */
    buf_free(&t->body);
    if (m->plain.cap > (4u << 20) && m->plain.cap > 4 * m->plain.len) buf_free(&m->plain);
    schedule_target(m, t);
}

/* ------------------------------------------------------------ jobs */

static void job_free(scrape_manager *m, scrape_job *j) {
    for (size_t i = 0; i < j->ntargets; i++) target_free(m, j->targets[i]);
    free(j->targets);
    target_defs_free(&j->dropped);
    for (size_t i = 0; i < j->nsd; i++) file_sd_free(&j->sd[i]);
    free(j->sd);
    free(j->name);
    free(j);
}

/* Targets by definition hash, to pair a job's new definitions with its
 * running targets in O(n log n): a linear search per definition made every
 * change of a job with thousands of targets (a managed target added)
 * quadratic. */
typedef struct {
    uint64_t hash;
    size_t idx;
} target_index;

static int cmp_target_index(const void *a, const void *b) {
    const target_index *x = a, *y = b;
    return x->hash < y->hash ? -1 : x->hash > y->hash ? 1 : (x->idx > y->idx) - (x->idx < y->idx);
}

static target_index *index_targets(scrape_target **ts, size_t n) {
    target_index *ix = xmalloc((n ? n : 1) * sizeof *ix);
    for (size_t i = 0; i < n; i++) ix[i] = (target_index){ts[i] ? ts[i]->def.hash : 0, i};
    qsort(ix, n, sizeof *ix, cmp_target_index);
    return ix;
}

/* Takes (sets to NULL in ts) the first target not yet taken with the hash;
 * NULL when there is none. */
static scrape_target *take_target(scrape_target **ts, const target_index *ix, size_t n, uint64_t hash) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ix[mid].hash < hash) lo = mid + 1;
        else hi = mid;
    }
    for (; lo < n && ix[lo].hash == hash; lo++) {
        scrape_target *t = ts[ix[lo].idx];
        if (t) {
            ts[ix[lo].idx] = NULL;
            return t;
        }
    }
    return NULL;
}

/* Rebuilds a job's targets from its config and file_sd groups.  Targets
 * whose definition (labels and URL) did not change keep their state and
 * schedule; new ones start at their offset; the rest get staleness markers
 * and go.  old/nold, when given, are the targets of the job's previous
 * version (a changed config): matching ones hand over their last series
 * so that staleness carries on, but start afresh. */
static void job_sync(scrape_manager *m, scrape_job *j, scrape_target **old, size_t nold, int64_t now) {
    target_defs active = {0}, dropped = {0};
    targets_build(j->cfg, j->sd, j->nsd, &m->rb, &active, &dropped);
    scrape_target **nt = xcalloc(active.n ? active.n : 1, sizeof *nt);
    scrape_target **cur = j->targets;
    size_t ncur = j->ntargets;
    target_index *cur_ix = index_targets(cur, ncur);
    target_index *old_ix = old ? index_targets(old, nold) : NULL;
    for (size_t i = 0; i < active.n; i++) {
        scrape_target *t = take_target(cur, cur_ix, ncur, active.v[i].hash);
        if (t) {
            /* Same identity; the discovered labels may still differ. */
            owned_labels d = t->def.discovered;
            pthread_mutex_lock(&m->lock);
            t->def.discovered = active.v[i].discovered;
            pthread_mutex_unlock(&m->lock);
            active.v[i].discovered = d;
            target_def_free(&active.v[i]);
        } else {
            t = target_new(j, &active.v[i], now);
            /* old[] belongs to a job still listed: readers skip NULLs. */
            pthread_mutex_lock(&m->lock);
            scrape_target *prev = old ? take_target(old, old_ix, nold, t->def.hash) : NULL;
            pthread_mutex_unlock(&m->lock);
            if (prev) {
                t->prev = prev->prev;
                memset(&prev->prev, 0, sizeof prev->prev);
                memcpy(t->report_refs, prev->report_refs, sizeof t->report_refs);
                t->have_report_refs = prev->have_report_refs;
                t->last_scrape_ms = prev->last_scrape_ms;
                t->last_duration = prev->last_duration;
                t->health = prev->health;
                memcpy(t->last_error, prev->last_error, sizeof t->last_error);
                target_free(m, prev);
            }
        }
        nt[i] = t;
    }
    pthread_mutex_lock(&m->lock);
    j->targets = nt;
    j->ntargets = active.n;
    target_defs od = j->dropped;
    j->dropped = dropped;
    pthread_mutex_unlock(&m->lock);
    target_defs_free(&od);
    free(active.v);
    free(cur_ix);
    free(old_ix);
    for (size_t i = 0; i < ncur; i++)
        if (cur[i]) {
            target_mark_all_stale(m, cur[i], now);
            target_free(m, cur[i]);
        }
    free(cur);
}

/* Creates a job from its config: reads its file_sd files, builds targets. */
static scrape_job *job_new(scrape_manager *m, const config_scrape *sc, scrape_target **old, size_t nold,
                           int64_t now) {
    scrape_job *j = xcalloc(1, sizeof *j);
    j->name = strdup(sc->job_name);
    j->cfg = sc;
    j->nsd = sc->nfile_sd;
    j->sd = xcalloc(j->nsd ? j->nsd : 1, sizeof *j->sd);
    for (size_t i = 0; i < j->nsd; i++) {
        file_sd_refresh(&sc->file_sd_configs[i], &j->sd[i], 1);
        j->sd[i].next_refresh_ms = now + sc->file_sd_configs[i].refresh_interval_ms;
    }
    job_sync(m, j, old, nold, now);
    return j;
}

/* Re-checks a job's file_sd files (mtime/size/glob; all at refresh time)
 * and rebuilds its targets when any group changed.  Returns 1 when they
 * changed (some targets may have been freed). */
static int job_refresh_sd(scrape_manager *m, scrape_job *j, int64_t now) {
    int changed = 0;
    for (size_t i = 0; i < j->nsd; i++) {
        int force = now >= j->sd[i].next_refresh_ms;
        if (force) j->sd[i].next_refresh_ms = now + j->cfg->file_sd_configs[i].refresh_interval_ms;
        changed |= file_sd_refresh(&j->cfg->file_sd_configs[i], &j->sd[i], force);
    }
    if (changed) {
        job_sync(m, j, NULL, 0, now);
        commit_pending(m); /* markers of removed targets: their own batch */
    }
    return changed;
}

/* Switches to a new configuration (scrape thread): unchanged jobs move
 * over as they are, changed ones are rebuilt, removed ones mark their
 * series stale.  Frees the previous configuration. */
static void apply_config_now(scrape_manager *m, promlite_config *cfg) {
    int64_t now = wall_ms();
    scrape_job **old = m->jobs;
    size_t nold = m->njobs;
    scrape_job **nj = xcalloc(cfg->nscrape ? cfg->nscrape : 1, sizeof *nj);
    scrape_job **rebuilt_old = xcalloc(nold ? nold : 1, sizeof *rebuilt_old);
    size_t nrebuilt = 0;
    for (size_t i = 0; i < cfg->nscrape; i++) {
        const config_scrape *sc = &cfg->scrape_configs[i];
        scrape_job *prev = NULL;
        size_t k;
        for (k = 0; k < nold; k++)
            if (old[k] && !strcmp(old[k]->name, sc->job_name)) {
                prev = old[k];
                break;
            }
        if (prev && config_scrape_equal(prev->cfg, sc)) {
            old[k] = NULL;
            int targets_changed = !config_scrape_targets_equal(prev->cfg, sc);
            prev->cfg = sc; /* same behaviour; the old config goes away */
            /* Only the static targets changed: the unchanged ones keep
             * their state and schedule, as with a file_sd change. */
            if (targets_changed) job_sync(m, prev, NULL, 0, now);
            nj[i] = prev;
        } else if (prev) {
            old[k] = NULL;
            /* Build while the old job is still listed, then swap. */
            nj[i] = job_new(m, sc, prev->targets, prev->ntargets, now);
            rebuilt_old[nrebuilt++] = prev;
        } else {
            nj[i] = job_new(m, sc, NULL, 0, now);
        }
    }
    pthread_mutex_lock(&m->lock);
    m->jobs = nj;
    m->njobs = cfg->nscrape;
    pthread_mutex_unlock(&m->lock);
    for (size_t i = 0; i < nrebuilt; i++) {
        scrape_job *j = rebuilt_old[i];
        for (size_t k = 0; k < j->ntargets; k++)
            if (j->targets[k]) target_mark_all_stale(m, j->targets[k], now);
        /* Targets handed over were set to NULL by take_target. */
        size_t w = 0;
        for (size_t k = 0; k < j->ntargets; k++)
            if (j->targets[k]) j->targets[w++] = j->targets[k];
        j->ntargets = w;
        job_free(m, j);
    }
    for (size_t k = 0; k < nold; k++)
        if (old[k]) {
            for (size_t t = 0; t < old[k]->ntargets; t++) target_mark_all_stale(m, old[k]->targets[t], now);
            job_free(m, old[k]);
        }
    commit_pending(m);
    free(rebuilt_old);
    free(old);
    config_free(m->cfg);
    m->cfg = cfg;
}

/* ------------------------------------------------------------ the thread */

static void run_retention(scrape_manager *m) {
    errbuf err;
    if (tsdb_apply_retention(m->db, &err) < 0) fprintf(stderr, "promlite: retention: %s\n", err.msg);
}

/* Finishes every transfer curl reports done. */
static void collect_done(scrape_manager *m) {
    CURLMsg *msg;
    int left;
    if (!m->curl_transfers) return;
    while ((msg = curl_multi_info_read(m->multi, &left))) {
        if (msg->msg != CURLMSG_DONE) continue;
        scrape_target *t = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&t);
        if (!t) continue;
        transfer_done(m, t, msg->data.result);
    }
}

/* Whether a deadlines entry still means something: the timeout of a
 * transfer in flight, or the end of its current connect attempt. */
static int deadline_live(const minheap_entry *e) {
    const scrape_target *t = e->item;
    if (t->http.state == HTTPGET_IDLE) return 0;
    return t->deadline_us == e->key || (t->attempt_us == e->key && httpget_wake_us(&t->http) == e->key);
}

/* The earliest deadline of a transfer still in flight: entries that went
 * stale (the transfer finished, the attempt moved on) are dropped as they
 * come to the top (each costs one look at its target, and no wake-up). */
static const minheap_entry *next_deadline(scrape_manager *m) {
    const minheap_entry *e;
    while ((e = minheap_top(&m->deadlines))) {
        if (deadline_live(e)) return e;
        minheap_pop(&m->deadlines);
    }
    return NULL;
}

/* Ends the httpget transfers whose scrape_timeout has passed, with
 * Prometheus's words for it. */
static void http_timeouts(scrape_manager *m) {
    const minheap_entry *e = next_deadline(m);
    if (!e) return;
    int64_t now_us = mono_micros();
    while ((e = next_deadline(m)) && e->key <= now_us) {
        int64_t key = e->key;
        scrape_target *t = minheap_pop(&m->deadlines);
        if (key != t->deadline_us) { /* a connect attempt's share is up: the next address */
            http_progress(m, t, httpget_tick(&t->http, now_us));
            continue;
        }
        char error[768];
        httpget_abort(&t->http, &m->resolver);
        snprintf(error, sizeof error, "Get \"%s\": context deadline exceeded", t->def.url);
        t->gzip = 0;
        store_answer(m, t, 0, error);
    }
}

/* Connects the httpget transfers whose name lookup has finished. */
static void http_poll_lookups(scrape_manager *m) {
    if (m->resolver.orphans) httpget_resolver_reap(&m->resolver, 0);
    size_t keep = 0;
    for (size_t i = 0; i < m->nlookups; i++) {
        scrape_target *t = m->lookups[i];
        if (t->http.state == HTTPGET_RESOLVING) http_progress(m, t, httpget_poll_resolve(&t->http));
        if (t->http.state == HTTPGET_RESOLVING) m->lookups[keep++] = t;
        else t->in_lookups = 0;
    }
    m->nlookups = keep;
}

/* libcurl runs on the scrape thread's epoll set (curl_multi_socket_action):
 * curl says which sockets to watch for what and when it wants a timeout
 * call; epoll_wait() reports exactly the sockets that are ready, so a
 * wake-up costs one call instead of curl_multi_poll()'s poll() over every
 * transfer plus a readiness poll() per socket inside curl. */
static int on_curl_socket(CURL *easy, curl_socket_t s, int what, void *ud, void *socketp) {
    scrape_manager *m = ud;
    (void)easy;
    if (what == CURL_POLL_REMOVE) {
        epoll_ctl(m->epfd, EPOLL_CTL_DEL, s, NULL); /* EBADF when curl closed it already */
        curl_multi_assign(m->multi, s, NULL);
        return 0;
    }
    struct epoll_event ev = {.events = (what & CURL_POLL_IN ? EPOLLIN : 0u) | (what & CURL_POLL_OUT ? EPOLLOUT : 0u),
                             .data.u64 = (uint64_t)s << 1};
    int op = socketp ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    if (epoll_ctl(m->epfd, op, s, &ev) < 0) {
        /* The kernel's view wins: a descriptor number curl reused, or one
         * dropped from the set when it was closed. */
        if (errno == EEXIST) epoll_ctl(m->epfd, EPOLL_CTL_MOD, s, &ev);
        else if (errno == ENOENT) epoll_ctl(m->epfd, EPOLL_CTL_ADD, s, &ev);
    }
    if (!socketp) curl_multi_assign(m->multi, s, m); /* any non-NULL mark: registered */
    return 0;
}

static int on_curl_timer(CURLM *multi, long timeout_ms, void *ud) {
    scrape_manager *m = ud;
    (void)multi;
    m->curl_due = timeout_ms < 0 ? -1 : mono_seconds() + (double)timeout_ms / 1000;
    return 0;
}

/* Hands curl its timeout call when it is due. */
static void curl_timeout_if_due(scrape_manager *m) {
    if (m->curl_due < 0 || mono_seconds() < m->curl_due) return;
    int running;
    m->curl_due = -1;
    curl_multi_socket_action(m->multi, CURL_SOCKET_TIMEOUT, 0, &running);
}

/* Starts every idle target whose time has come and works out when the next
 * one is due (m->next_due_ms).  A target leaves the schedule while its
 * transfer runs; store_answer() puts it back. */
static void start_due_targets(scrape_manager *m, int64_t now) {
    const minheap_entry *e;
    while ((e = minheap_top(&m->schedule)) && e->key <= now) {
        scrape_target *t = minheap_pop(&m->schedule);
        t->scheduled = 0;
        /* Prometheus 2.42 aligns a timestamp that is within 2 ms of the
         * schedule to it: regular timestamps compress better. */
        int64_t ts = now - t->next_ms <= 2 ? t->next_ms : now;
        t->next_ms += t->def.interval_ms;
        while (t->next_ms <= now) t->next_ms += t->def.interval_ms;
        transfer_start(m, t, ts); /* may end at once and be scheduled again */
    }
    e = minheap_top(&m->schedule);
    m->next_due_ms = e ? e->key : INT64_MAX;
}

static void *scrape_thread(void *arg) {
    scrape_manager *m = arg;
    struct epoll_event events[64];
    for (;;) {
        pthread_mutex_lock(&m->lock);
        int stop = m->stop;
        promlite_config *pending = m->pending;
        m->pending = NULL;
        pthread_mutex_unlock(&m->lock);
        if (stop) {
            config_free(pending);
            break;
        }
        if (pending) {
            apply_config_now(m, pending);
            schedule_all(m); /* new targets */
        }
        int64_t now = wall_ms();
        if (now >= m->next_sd_check) {
            int changed = 0;
            for (size_t i = 0; i < m->njobs; i++)
                if (m->jobs[i]->nsd) changed |= job_refresh_sd(m, m->jobs[i], now);
            if (changed) schedule_all(m);
            m->next_sd_check = now + (int64_t)(m->file_sd_poll_s * 1000);
        }
        if (mono_seconds() >= m->next_retention) {
            run_retention(m);
            m->next_retention = mono_seconds() + m->retention_every_s;
        }
        if (now >= m->next_due_ms) start_due_targets(m, now);
        curl_timeout_if_due(m);
        collect_done(m);
        http_timeouts(m);
        http_poll_lookups(m);

        int64_t wait = m->next_sd_check - now;
        if (wait > 1000) wait = 1000;
        if (m->next_due_ms - now < wait) wait = m->next_due_ms - now;
        if (m->curl_due >= 0) {
            int64_t c = (int64_t)ceil((m->curl_due - mono_seconds()) * 1000);
            if (c < wait) wait = c;
        }
        const minheap_entry *deadline = next_deadline(m);
        if (deadline) {
            int64_t c = (deadline->key - mono_micros() + 999) / 1000;
            if (c < wait) wait = c;
        }
        if (m->nlookups && wait > 5) wait = 5; /* getaddrinfo_a() is polled */
        if (wait < 0) wait = 0;
        int n = epoll_wait(m->epfd, events, (int)(sizeof events / sizeof events[0]), (int)wait);
        for (int i = 0; i < n; i++) {
            /* An httpget connection's tag is its target's address with
             * the low bit set; curl's sockets and the eventfd are fd << 1. */
            uint64_t tag = events[i].data.u64;
            if (tag & 1) {
                scrape_target *t = (scrape_target *)(uintptr_t)(tag & ~(uint64_t)1);
                http_progress(m, t, httpget_on_ready(&t->http, events[i].events));
                continue;
            }
            int fd = (int)(tag >> 1);
            if (fd == m->wakefd) {
                uint64_t v;
                if (read(m->wakefd, &v, sizeof v) < 0) { /* EAGAIN: already drained */ }
                continue;
            }
            uint32_t e = events[i].events;
            int mask = (e & EPOLLIN ? CURL_CSELECT_IN : 0) | (e & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
                       (e & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0);
            int running;
            curl_multi_socket_action(m->multi, fd, mask, &running);
        }
        curl_timeout_if_due(m);
        collect_done(m);
        http_timeouts(m);
    }
    return NULL;
}

/* Wakes the scrape thread from epoll_wait(). */
static void wake_thread(scrape_manager *m) {
    uint64_t one = 1;
    if (write(m->wakefd, &one, sizeof one) < 0) { /* EAGAIN: a wake-up is pending anyway */ }
}

/* ------------------------------------------------------------ public API */

static void curl_init_once(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }
static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

int scrape_start(tsdb *db, promlite_config *cfg, const scrape_options *o, scrape_manager **out, errbuf *err) {
    pthread_once(&curl_once, curl_init_once);
    scrape_manager *m = xcalloc(1, sizeof *m);
    m->db = db;
    m->user_agent = strdup(o && o->user_agent ? o->user_agent : "promlite");
    m->retention_every_s = o && o->retention_every_s > 0 ? o->retention_every_s : 3600;
    m->file_sd_poll_s = o && o->file_sd_poll_s > 0 ? o->file_sd_poll_s : 1;
    m->next_retention = mono_seconds() + m->retention_every_s;
    pthread_mutex_init(&m->lock, NULL);
    m->multi = curl_multi_init();
    /* Keep one idle connection per target between scrapes: by default the
     * cache holds 4 per handle being transferred, so most connections were
     * closed and every scrape paid a new TCP connect. */
    if (m->multi) curl_multi_setopt(m->multi, CURLMOPT_MAXCONNECTS, 4096L);
    m->app = tsdb_appender_new(db);
    relabel_builder_init(&m->rb);
    m->pending = cfg;
    m->curl_due = -1;
    m->epfd = epoll_create1(EPOLL_CLOEXEC);
    m->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (!m->multi) {
        errf(err, "curl_multi_init failed");
        goto fail;
    }
    struct epoll_event wake = {.events = EPOLLIN, .data.u64 = (uint64_t)m->wakefd << 1};
    if (m->epfd < 0 || m->wakefd < 0 || epoll_ctl(m->epfd, EPOLL_CTL_ADD, m->wakefd, &wake) < 0) {
        errf(err, "setting up the scrape thread's epoll set: %s", strerror(errno));
        goto fail;
    }
    curl_multi_setopt(m->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
    curl_multi_setopt(m->multi, CURLMOPT_SOCKETDATA, m);
    curl_multi_setopt(m->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
    curl_multi_setopt(m->multi, CURLMOPT_TIMERDATA, m);
    int rc = pthread_create(&m->thread, NULL, scrape_thread, m);
    if (rc) {
        errf(err, "starting the scrape thread: %s", strerror(rc));
        goto fail;
    }
    *out = m;
    return 0;
fail:
    config_free(cfg);
    if (m->multi) curl_multi_cleanup(m->multi);
    if (m->epfd >= 0) close(m->epfd);
    if (m->wakefd >= 0) close(m->wakefd);
    tsdb_appender_free(m->app);
    relabel_builder_free(&m->rb);
    pthread_mutex_destroy(&m->lock);
    free(m->user_agent);
    free(m);
    return -1;
}

int scrape_apply_config(scrape_manager *m, promlite_config *cfg, errbuf *err) {
    if (!cfg) return errf(err, "no configuration");
    pthread_mutex_lock(&m->lock);
    promlite_config *superseded = m->pending;
    m->pending = cfg;
    pthread_mutex_unlock(&m->lock);
    config_free(superseded); /* never seen by the scrape thread */
    wake_thread(m);
    return 0;
}

void scrape_stop(scrape_manager *m) {
    if (!m) return;
    pthread_mutex_lock(&m->lock);
    m->stop = 1;
    pthread_mutex_unlock(&m->lock);
    wake_thread(m);
    pthread_join(m->thread, NULL);
    for (size_t i = 0; i < m->njobs; i++) job_free(m, m->jobs[i]);
    free(m->jobs);
    httpget_resolver_reap(&m->resolver, 1);
    minheap_free(&m->schedule);
    minheap_free(&m->deadlines);
    free(m->lookups);
    expfmt_free(m->parser);
    free(m->seen.v);
    buf_free(&m->seen.text);
    config_free(m->pending);
    config_free(m->cfg);
    curl_multi_cleanup(m->multi);
    close(m->epfd);
    close(m->wakefd);
    tsdb_appender_free(m->app);
    relabel_builder_free(&m->rb);
    free(m->scratch);
    free(m->order.v);
    free(m->cur.v);
    if (m->inflater) libdeflate_free_decompressor(m->inflater);
    buf_free(&m->plain);
    pthread_mutex_destroy(&m->lock);
    free(m->user_agent);
    free(m);
}

/* ------------------------------------------------------------ reporting */

static int cmp_job(const void *a, const void *b) {
    return strcmp((*(scrape_job *const *)a)->name, (*(scrape_job *const *)b)->name);
}

static void json_target(buf *b, const scrape_job *j, const scrape_target *t) {
    char tm[64], iv[32], to[32], num[FLOAT_TEXT_MAX];
    buf_printf(b, "{\"discoveredLabels\":");
    jw_labels(b, t->def.discovered.v, t->def.discovered.n);
    buf_printf(b, ",\"labels\":");
    jw_labels(b, t->def.labels.v, t->def.labels.n);
    buf_printf(b, ",\"scrapePool\":");
    jw_cstring(b, j->name);
    buf_printf(b, ",\"scrapeUrl\":");
    jw_cstring(b, t->def.url);
    buf_printf(b, ",\"globalUrl\":");
    jw_cstring(b, t->def.url);
    buf_printf(b, ",\"lastError\":");
    jw_cstring(b, t->last_error);
    if (t->last_scrape_ms) format_time(t->last_scrape_ms, tm, sizeof tm);
    else snprintf(tm, sizeof tm, "0001-01-01T00:00:00Z");
    buf_printf(b, ",\"lastScrape\":");
    jw_cstring(b, tm);
    format_duration(t->def.interval_ms, iv, sizeof iv);
    format_duration(t->def.timeout_ms, to, sizeof to);
    buf_printf(b, ",\"lastScrapeDuration\":%s,\"health\":\"%s\",\"scrapeInterval\":\"%s\",\"scrapeTimeout\":\"%s\"}",
               format_float(t->last_duration, num),
               t->health == HEALTH_UP ? "up" : t->health == HEALTH_DOWN ? "down" : "unknown", iv, to);
}

void scrape_targets_json(scrape_manager *m, buf *out, const char *state) {
    int active = !state || !strcmp(state, "any") || !strcmp(state, "active") || !*state;
    int dropped = !state || !strcmp(state, "any") || !strcmp(state, "dropped") || !*state;
    pthread_mutex_lock(&m->lock);
    scrape_job **jobs = xmalloc((m->njobs ? m->njobs : 1) * sizeof *jobs);
    memcpy(jobs, m->jobs, m->njobs * sizeof *jobs);
    qsort(jobs, m->njobs, sizeof *jobs, cmp_job);
    buf_printf(out, "{\"activeTargets\":[");
    int first = 1;
    for (size_t i = 0; active && i < m->njobs; i++)
        for (size_t k = 0; k < jobs[i]->ntargets; k++) {
            if (!jobs[i]->targets[k]) continue; /* being handed over */
            if (!first) buf_append(out, ",", 1);
            first = 0;
            json_target(out, jobs[i], jobs[i]->targets[k]);
        }
    buf_printf(out, "],\"droppedTargets\":[");
    first = 1;
    for (size_t i = 0; dropped && i < m->njobs; i++)
        for (size_t k = 0; k < jobs[i]->dropped.n; k++) {
            if (!first) buf_append(out, ",", 1);
            first = 0;
            buf_printf(out, "{\"discoveredLabels\":");
            jw_labels(out, jobs[i]->dropped.v[k].discovered.v, jobs[i]->dropped.v[k].discovered.n);
            buf_append(out, "}", 1);
        }
    buf_printf(out, "]}");
    pthread_mutex_unlock(&m->lock);
    free(jobs);
}

static const char *meta_type_name(expfmt_type t) {
    switch (t) {
    case EXPFMT_TYPE_COUNTER: return "counter";
    case EXPFMT_TYPE_GAUGE: return "gauge";
    case EXPFMT_TYPE_HISTOGRAM: return "histogram";
    case EXPFMT_TYPE_GAUGEHISTOGRAM: return "gaugehistogram";
    case EXPFMT_TYPE_SUMMARY: return "summary";
    case EXPFMT_TYPE_INFO: return "info";
    case EXPFMT_TYPE_STATESET: return "stateset";
    default: return "unknown";
    }
}

static int cmp_meta_ptr(const void *x, const void *y) {
    const metric_meta *a = *(const metric_meta *const *)x, *b = *(const metric_meta *const *)y;
    int c = strcmp(a->name, b->name);
    if (!c) c = (int)a->type - (int)b->type;
    if (!c) c = strcmp(a->help, b->help);
    if (!c) c = strcmp(a->unit, b->unit);
    return c;
}

void scrape_metadata_json(scrape_manager *m, buf *out, const char *metric, long limit) {
    pthread_mutex_lock(&m->lock);
    size_t n = 0, cap = 256;
    const metric_meta **all = xmalloc(cap * sizeof *all);
    for (size_t i = 0; i < m->njobs; i++)
        for (size_t k = 0; k < m->jobs[i]->ntargets; k++) {
            scrape_target *t = m->jobs[i]->targets[k];
            for (size_t j = 0; t && j < t->nmeta; j++) {
                if (metric && *metric && strcmp(t->meta[j].name, metric)) continue;
                if (n == cap) all = xrealloc(all, (cap *= 2) * sizeof *all);
                all[n++] = &t->meta[j];
            }
        }
    qsort(all, n, sizeof *all, cmp_meta_ptr);
    buf_append(out, "{", 1);
    long names = 0;
    for (size_t i = 0; i < n; i++) {
        int same_name = i && !strcmp(all[i - 1]->name, all[i]->name);
        if (i && !cmp_meta_ptr(&all[i - 1], &all[i])) continue; /* the same from another target */
        if (!same_name) {
            if (limit > 0 && names == limit) break;
            if (names++) buf_append(out, "],", 2);
            jw_cstring(out, all[i]->name);
            buf_append(out, ":[", 2);
        } else {
            buf_append(out, ",", 1);
        }
        buf_printf(out, "{\"type\":\"%s\",\"help\":", meta_type_name(all[i]->type));
        jw_cstring(out, all[i]->help);
        buf_append(out, ",\"unit\":", 8);
        jw_cstring(out, all[i]->unit);
        buf_append(out, "}", 1);
    }
    if (names) buf_append(out, "]", 1);
    buf_append(out, "}", 1);
    pthread_mutex_unlock(&m->lock);
    free(all);
}

static void metric_head(buf *out, const char *name, const char *type, const char *help) {
    buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void label_value_escaped(buf *out, const char *s) {
    for (; *s; s++) {
        if (*s == '\\' || *s == '"') buf_printf(out, "\\%c", *s);
        else if (*s == '\n') buf_printf(out, "\\n");
        else buf_append(out, s, 1);
    }
}

void scrape_metrics(scrape_manager *m, buf *out) {
    pthread_mutex_lock(&m->lock);
    scrape_stats s = m->stats;
    char num[FLOAT_TEXT_MAX];
    metric_head(out, "promlite_scrape_duration_seconds", "histogram", "Duration of scrapes, storing included.");
    for (size_t i = 0; i < NBUCKETS; i++)
        buf_printf(out, "promlite_scrape_duration_seconds_bucket{le=\"%s\"} %llu\n",
                   format_float(duration_buckets[i], num), (unsigned long long)s.duration_buckets[i]);
    buf_printf(out, "promlite_scrape_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
               (unsigned long long)s.duration_count);
    buf_printf(out, "promlite_scrape_duration_seconds_sum %s\n", format_float(s.duration_sum, num));
    buf_printf(out, "promlite_scrape_duration_seconds_count %llu\n", (unsigned long long)s.duration_count);
    struct {
        const char *name, *help;
        uint64_t v;
    } counters[] = {
        {"promlite_scrapes_total", "Scrapes finished.", s.scrapes},
        {"promlite_scrape_failures_total", "Scrapes that failed (up=0).", s.failures},
        {"promlite_scrape_samples_total", "Samples stored by scrapes.", s.samples_appended},
        {"promlite_target_scrapes_exceeded_sample_limit_total", "Scrapes that hit sample_limit.",
         s.exceeded_sample_limit},
        {"promlite_target_scrapes_exceeded_body_size_limit_total", "Scrapes that hit body_size_limit.",
         s.exceeded_body_size_limit},
        {"promlite_target_scrapes_sample_out_of_order_total", "Scraped samples rejected as out of order.",
         s.out_of_order},
        {"promlite_target_scrapes_sample_duplicate_timestamp_total",
         "Scraped samples rejected for a duplicate timestamp.", s.duplicate},
        {"promlite_scrape_commit_failures_total", "Scrape batches the storage could not make durable.",
         s.commit_failures},
    };
    for (size_t i = 0; i < sizeof counters / sizeof counters[0]; i++) {
        metric_head(out, counters[i].name, "counter", counters[i].help);
        buf_printf(out, "%s %llu\n", counters[i].name, (unsigned long long)counters[i].v);
    }
    metric_head(out, "promlite_scrape_targets", "gauge", "Active targets by job.");
    for (size_t i = 0; i < m->njobs; i++) {
        buf_printf(out, "promlite_scrape_targets{job=\"");
        label_value_escaped(out, m->jobs[i]->name);
        buf_printf(out, "\"} %zu\n", m->jobs[i]->ntargets);
    }
    metric_head(out, "promlite_scrape_dropped_targets", "gauge", "Targets dropped by relabeling, by job.");
    for (size_t i = 0; i < m->njobs; i++) {
        buf_printf(out, "promlite_scrape_dropped_targets{job=\"");
        label_value_escaped(out, m->jobs[i]->name);
        buf_printf(out, "\"} %zu\n", m->jobs[i]->dropped.n);
    }
    pthread_mutex_unlock(&m->lock);
}
