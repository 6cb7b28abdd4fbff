/*
 * forward.c - the queue and sender for external Alertmanagers (see
 * forward.h).
 *
 * Design.  Each alert is encoded to its JSON object once, when queued
 * (Alertmanager's postable alert: labels, annotations, startsAt, endsAt,
 * generatorURL), so the sender only joins strings.  The queue is a ring of
 * those strings.  Per-URL counters live in a small table rebuilt when the
 * configuration changes.
 */
#include <curl/curl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alert/forward.h"
#include "common/timeutil.h"
#include "web/json.h"

#define DEFAULT_CAPACITY 10000
#define MAX_BATCH 64

typedef struct {
    char *url;
    uint64_t sent, errors;
} am_target;

struct forwarder {
    char *user_agent;
    pthread_mutex_t mu;
    pthread_cond_t wake;
    int stop;
    char **ring;
    size_t cap, head, count;
    uint64_t dropped;
    am_config *cfg;
    am_target *targets;
    size_t ntargets;
    pthread_t thread;
    int has_thread;
};

static void json_time(buf *b, int64_t ms) {
    char t[64];
    format_time_json(ms, t, sizeof t);
    buf_printf(b, "\"%s\"", t);
}

static char *encode(const ruler_alert *a) {
    buf b = {0};
    buf_printf(&b, "{\"labels\":");
    jw_labels(&b, a->labels, a->nlabels);
    buf_printf(&b, ",\"annotations\":");
    jw_labels(&b, a->annotations, a->nannotations);
    if (a->starts_at_ms) {
        buf_printf(&b, ",\"startsAt\":");
        json_time(&b, a->starts_at_ms);
    }
    if (a->ends_at_ms) {
        buf_printf(&b, ",\"endsAt\":");
        json_time(&b, a->ends_at_ms);
    }
    buf_printf(&b, ",\"generatorURL\":");
    jw_cstring(&b, a->generator_url ? a->generator_url : "");
    buf_append(&b, "}", 1);
    buf_append(&b, "", 1);
    return (char *)b.data;
}

/* A secret given inline or in a file (read at each use, as Prometheus
 * does, so a rotated secret is picked up); "" when neither is set or the
 * file cannot be read (logged).  The result is the caller's to free. */
static char *secret(const char *inline_value, const char *file) {
    if (inline_value) return xstrndup(inline_value, strlen(inline_value));
    if (!file) return xstrndup("", 0);
    size_t len = 0;
    char *s = read_small_file(file, 64u << 10, &len);
    if (!s) {
        fprintf(stderr, "promlite: alertmanagers: cannot read %s\n", file);
        return xstrndup("", 0);
    }
    while (len && (s[len - 1] == '\n' || s[len - 1] == '\r' || s[len - 1] == ' ')) s[--len] = 0;
    return s;
}

/* Posts one batch to one URL; returns 0 on a 2xx answer. */
static int post(forwarder *f, const char *url, const am_forward *fw, const char *body, size_t len, char *why,
                size_t whylen) {
    CURL *c = curl_easy_init();
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    h = curl_slist_append(h, "Expect:");
    buf auth = {0};
    char *password = NULL;
    const config_authorization *az = fw->http.authorization;
    if (az && (az->credentials || az->credentials_file)) {
        char *cred = secret(az->credentials, az->credentials_file);
        buf_printf(&auth, "Authorization: %s %s", az->type, cred);
        buf_append(&auth, "", 1);
        h = curl_slist_append(h, (const char *)auth.data);
        free(cred);
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_USERAGENT, f->user_agent);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)fw->timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    if (fw->http.basic_auth) {
        password = secret(fw->http.basic_auth->password, fw->http.basic_auth->password_file);
        curl_easy_setopt(c, CURLOPT_USERNAME, fw->http.basic_auth->username);
        curl_easy_setopt(c, CURLOPT_PASSWORD, password);
    }
    if (fw->http.proxy_url) curl_easy_setopt(c, CURLOPT_PROXY, fw->http.proxy_url);
    if (fw->http.tls.ca_file) curl_easy_setopt(c, CURLOPT_CAINFO, fw->http.tls.ca_file);
    if (fw->http.tls.cert_file) curl_easy_setopt(c, CURLOPT_SSLCERT, fw->http.tls.cert_file);
    if (fw->http.tls.key_file) curl_easy_setopt(c, CURLOPT_SSLKEY, fw->http.tls.key_file);
    if (fw->http.tls.insecure_skip_verify) {
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    if (rc == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (rc != CURLE_OK) snprintf(why, whylen, "%s", curl_easy_strerror(rc));
    else if (status / 100 != 2) snprintf(why, whylen, "bad response status %ld", status);
    curl_slist_free_all(h);
    buf_free(&auth);
    curl_easy_cleanup(c);
    free(password);
    return rc == CURLE_OK && status / 100 == 2 ? 0 : -1;
}

/* One target's share of a batch. */
typedef struct {
    forwarder *f;
    const am_forward *fw;
    char url[2048];
    const buf *body;
    pthread_t thread;
    int started, ok;
    char why[256];
} send_job;

static void *send_one(void *arg) {
    send_job *j = arg;
    j->ok = post(j->f, j->url, j->fw, (const char *)j->body->data, j->body->len, j->why, sizeof j->why) == 0;
    return NULL;
}

static void *sender(void *arg) {
    forwarder *f = arg;
    pthread_mutex_lock(&f->mu);
    for (;;) {
        while (!f->stop && (!f->count || !f->cfg || !f->ntargets)) {
            if (f->count && (!f->cfg || !f->ntargets)) {
                /* Nowhere to send: drop, as Prometheus does without Alertmanagers. */
                while (f->count) {
                    free(f->ring[f->head]);
                    f->head = (f->head + 1) % f->cap;
                    f->count--;
                }
            }
            pthread_cond_wait(&f->wake, &f->mu);
        }
        if (!f->count || !f->cfg) break;
        int last = f->stop; /* stopping: one more batch, then go */
        size_t n = f->count < MAX_BATCH ? f->count : MAX_BATCH;
        buf body = {0};
        buf_append(&body, "[", 1);
        for (size_t i = 0; i < n; i++) {
            char *s = f->ring[f->head];
            if (i) buf_append(&body, ",", 1);
            buf_append(&body, s, strlen(s));
            free(s);
            f->head = (f->head + 1) % f->cap;
        }
        f->count -= n;
        buf_append(&body, "]", 1);
        am_config *cfg = amconfig_retain(f->cfg);
        pthread_mutex_unlock(&f->mu);
        /* Every target at once, as Prometheus sends: a dead Alertmanager
         * costs one timeout per batch, not one per dead target. */
        size_t nt = 0;
        for (size_t i = 0; i < cfg->nforwards; i++) nt += cfg->forwards[i].ntargets;
        send_job *jobs = xcalloc(nt ? nt : 1, sizeof *jobs);
        size_t t = 0;
        for (size_t i = 0; i < cfg->nforwards; i++)
            for (size_t k = 0; k < cfg->forwards[i].ntargets; k++, t++) {
                send_job *j = &jobs[t];
                j->f = f;
                j->fw = &cfg->forwards[i];
                snprintf(j->url, sizeof j->url, "%s://%s%s/api/v2/alerts", j->fw->scheme, j->fw->targets[k],
                         j->fw->path_prefix);
                j->body = &body;
                j->started = t > 0 && pthread_create(&j->thread, NULL, send_one, j) == 0;
                if (t > 0 && !j->started) send_one(j);
            }
        if (nt) send_one(&jobs[0]);
        for (t = 0; t < nt; t++) {
            if (jobs[t].started) pthread_join(jobs[t].thread, NULL);
            if (!jobs[t].ok) fprintf(stderr, "promlite: sending %zu alerts to %s failed: %s\n", n, jobs[t].url, jobs[t].why);
        }
        pthread_mutex_lock(&f->mu);
        if (f->cfg == cfg)
            for (t = 0; t < nt && t < f->ntargets; t++) {
                if (jobs[t].ok) f->targets[t].sent += n;
                else f->targets[t].errors += n;
            }
        pthread_mutex_unlock(&f->mu);
        free(jobs);
        amconfig_free(cfg);
        buf_free(&body);
        pthread_mutex_lock(&f->mu);
        if (last) break;
    }
    pthread_mutex_unlock(&f->mu);
    return NULL;
}

forwarder *forwarder_new(const char *user_agent, size_t capacity) {
    forwarder *f = xcalloc(1, sizeof *f);
    f->user_agent = xstrndup(user_agent ? user_agent : "promlite", strlen(user_agent ? user_agent : "promlite"));
    f->cap = capacity ? capacity : DEFAULT_CAPACITY;
    f->ring = xcalloc(f->cap, sizeof *f->ring);
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->wake, NULL);
    f->has_thread = pthread_create(&f->thread, NULL, sender, f) == 0;
    return f;
}

void forwarder_apply(forwarder *f, am_config *cfg) {
    am_target *targets = NULL;
    size_t n = 0;
    if (cfg) {
        for (size_t i = 0; i < cfg->nforwards; i++) n += cfg->forwards[i].ntargets;
        targets = xcalloc(n ? n : 1, sizeof *targets);
        size_t t = 0;
        for (size_t i = 0; i < cfg->nforwards; i++)
            for (size_t k = 0; k < cfg->forwards[i].ntargets; k++) {
                buf u = {0};
                buf_printf(&u, "%s://%s%s/api/v2/alerts", cfg->forwards[i].scheme, cfg->forwards[i].targets[k],
                           cfg->forwards[i].path_prefix);
                buf_append(&u, "", 1);
                targets[t++].url = (char *)u.data;
            }
    }
    pthread_mutex_lock(&f->mu);
    am_config *old = f->cfg;
    am_target *old_targets = f->targets;
    size_t nold = f->ntargets;
    /* Counters carry over for URLs that stay. */
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < nold; j++)
            if (!strcmp(targets[i].url, old_targets[j].url)) {
                targets[i].sent = old_targets[j].sent;
                targets[i].errors = old_targets[j].errors;
            }
    f->cfg = cfg;
    f->targets = targets;
    f->ntargets = n;
    pthread_cond_signal(&f->wake);
    pthread_mutex_unlock(&f->mu);
    for (size_t j = 0; j < nold; j++) free(old_targets[j].url);
    free(old_targets);
    amconfig_free(old);
}

void forwarder_send(forwarder *f, const ruler_alert *a, size_t n) {
    pthread_mutex_lock(&f->mu);
    int configured = f->cfg && f->ntargets;
    pthread_mutex_unlock(&f->mu);
    if (!configured || !n) return;
    char **enc = xcalloc(n, sizeof *enc);
    for (size_t i = 0; i < n; i++) enc[i] = encode(&a[i]);
    pthread_mutex_lock(&f->mu);
    for (size_t i = 0; i < n; i++) {
        if (f->count == f->cap) {
            free(f->ring[f->head]);
            f->head = (f->head + 1) % f->cap;
            f->count--;
            f->dropped++;
        }
        f->ring[(f->head + f->count) % f->cap] = enc[i];
        f->count++;
    }
    pthread_cond_signal(&f->wake);
    pthread_mutex_unlock(&f->mu);
    free(enc);
}

void forwarder_metrics(forwarder *f, buf *out) {
    pthread_mutex_lock(&f->mu);
    buf_printf(out, "# HELP prometheus_notifications_sent_total Total number of alerts sent.\n"
                    "# TYPE prometheus_notifications_sent_total counter\n");
    for (size_t i = 0; i < f->ntargets; i++)
        buf_printf(out, "prometheus_notifications_sent_total{alertmanager=\"%s\"} %" PRIu64 "\n", f->targets[i].url,
                   f->targets[i].sent);
    buf_printf(out, "# HELP prometheus_notifications_errors_total Total number of errors sending alert notifications.\n"
                    "# TYPE prometheus_notifications_errors_total counter\n");
    for (size_t i = 0; i < f->ntargets; i++)
        buf_printf(out, "prometheus_notifications_errors_total{alertmanager=\"%s\"} %" PRIu64 "\n", f->targets[i].url,
                   f->targets[i].errors);
    buf_printf(out,
               "# HELP prometheus_notifications_dropped_total Total number of alerts dropped due to errors when "
               "sending to Alertmanager.\n# TYPE prometheus_notifications_dropped_total counter\n"
               "prometheus_notifications_dropped_total %" PRIu64 "\n"
               "# HELP prometheus_notifications_queue_length The number of alert notifications in the queue.\n"
               "# TYPE prometheus_notifications_queue_length gauge\nprometheus_notifications_queue_length %zu\n"
               "# HELP prometheus_notifications_queue_capacity The capacity of the alert notifications queue.\n"
               "# TYPE prometheus_notifications_queue_capacity gauge\nprometheus_notifications_queue_capacity %zu\n"
               "# HELP prometheus_notifications_alertmanagers_discovered The number of alertmanagers discovered and "
               "active.\n# TYPE prometheus_notifications_alertmanagers_discovered gauge\n"
               "prometheus_notifications_alertmanagers_discovered %zu\n",
               f->dropped, f->count, f->cap, f->ntargets);
    pthread_mutex_unlock(&f->mu);
}

void forwarder_free(forwarder *f) {
    if (!f) return;
    pthread_mutex_lock(&f->mu);
    f->stop = 1;
    pthread_cond_broadcast(&f->wake);
    pthread_mutex_unlock(&f->mu);
    if (f->has_thread) pthread_join(f->thread, NULL);
    while (f->count) {
        free(f->ring[f->head]);
        f->head = (f->head + 1) % f->cap;
        f->count--;
    }
    free(f->ring);
    for (size_t i = 0; i < f->ntargets; i++) free(f->targets[i].url);
    free(f->targets);
    amconfig_free(f->cfg);
    free(f->user_agent);
    pthread_mutex_destroy(&f->mu);
    pthread_cond_destroy(&f->wake);
    free(f);
}
