/*
 * test_notifier.c - the built-in Alertmanager (alert/notifier.h) with a
 * controllable clock: the notifier runs in manual mode, notifier_tick()
 * moves time, and a webhook receiver inside the test (libmicrohttpd)
 * records what is delivered and answers what the test chooses.
 *
 * Covered: group_wait batching, group_interval for new alerts,
 * repeat_interval, resolution with and without send_resolved, routing with
 * matchers, continue and group_by '...', inhibition with equal labels,
 * silences (muting until expired), retries with backoff on failures and a
 * 4xx that is not retried, persistence across a reopen (no duplicate; an
 * owed resolution sent), POST and GET /api/v2/alerts, and the checks of the
 * alerting section with their messages.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alert/notifier.h"

#define T0 1700000000000LL
#define SEC 1000LL

/* ------------------------------------------------------------ receiver */

typedef struct {
    pthread_mutex_t mu;
    char *bodies[64];
    char *paths[64];
    size_t n;
    unsigned status;        /* answer to the next requests */
    unsigned fail_next;     /* this many requests get 503 first */
    size_t attempts;
} hook;

typedef struct {
    buf body;
} conn;

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *data, size_t *size, void **ctx) {
    (void)version;
    (void)method;
    hook *h = cls;
    conn *st = *ctx;
    if (!st) {
        *ctx = st = calloc(1, sizeof *st);
        return MHD_YES;
    }
    if (*size) {
        buf_append(&st->body, data, *size);
        *size = 0;
        return MHD_YES;
    }
    pthread_mutex_lock(&h->mu);
    h->attempts++;
    unsigned status = h->fail_next ? (h->fail_next--, 503) : h->status;
    if (status == 200 && h->n < 64) {
        buf_append(&st->body, "", 1);
        h->bodies[h->n] = (char *)st->body.data;
        h->paths[h->n++] = strdup(url);
        st->body = (buf){0};
    }
    pthread_mutex_unlock(&h->mu);
    struct MHD_Response *r = MHD_create_response_from_buffer(2, "ok", MHD_RESPMEM_PERSISTENT);
    enum MHD_Result rc = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return rc;
}

static void on_done(void *cls, struct MHD_Connection *c, void **ctx, enum MHD_RequestTerminationCode t) {
    (void)cls;
    (void)c;
    (void)t;
    conn *st = *ctx;
    if (st) {
        buf_free(&st->body);
        free(st);
    }
    *ctx = NULL;
}

/* ------------------------------------------------------------ fixture */

typedef struct {
    char dir[64];
    tsdb *db;
    silences *sil;
    notifier *n;
    hook h;
    struct MHD_Daemon *mhd;
    unsigned port;
} fixture;

static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    strcpy(f->dir, "/tmp/test_notifier.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    tsdb_options o = {.path = f->dir};
    errbuf err;
    if (tsdb_open(&o, &f->db, &err)) fail_msg("tsdb_open: %s", err.msg);
    silences_options so = {.db = f->db};
    if (silences_open(&so, &f->sil, &err)) fail_msg("silences_open: %s", err.msg);
    pthread_mutex_init(&f->h.mu, NULL);
    f->h.status = 200;
    f->mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, on_request, &f->h,
                              MHD_OPTION_NOTIFY_COMPLETED, on_done, NULL, MHD_OPTION_END);
    assert_non_null(f->mhd);
    f->port = MHD_get_daemon_info(f->mhd, MHD_DAEMON_INFO_BIND_PORT)->port;
    *state = f;
    return 0;
}

static void open_notifier(fixture *f) {
    notifier_options o = {.db = f->db, .silences = f->sil, .external_url = "http://promlite.test", .manual = 1,
                          .attempt_timeout_ms = 2000};
    errbuf err;
    if (notifier_open(&o, &f->n, &err)) fail_msg("notifier_open: %s", err.msg);
}

static void clear_hook(fixture *f) {
    for (size_t i = 0; i < f->h.n; i++) free(f->h.bodies[i]), free(f->h.paths[i]);
    f->h.n = 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    notifier_close(f->n);
    MHD_stop_daemon(f->mhd);
    clear_hook(f);
    silences_close(f->sil);
    errbuf err;
    tsdb_close(f->db, &err);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    pthread_mutex_destroy(&f->h.mu);
    free(f);
    return 0;
}

/* Decodes an alerting section; %u in text becomes the receiver's port. */
static am_config *decode(fixture *f, const char *fmt, errbuf *err) {
    char text[4096];
    snprintf(text, sizeof text, fmt, f ? f->port : 0, f ? f->port : 0, f ? f->port : 0);
    yt_arena *a = yt_arena_new();
    yt_loader L = {.arena = a, .name = "promlite.yml", .dir = ".", .err = err};
    yt_node *root;
    am_config *c = NULL;
    if (yt_parse(&L, text, strlen(text), &root) == 0) amconfig_decode(yt_field(root, "alerting"), "promlite.yml", ".", &c, err);
    yt_arena_free(a);
    return c;
}

static void configure(fixture *f, const char *fmt) {
    errbuf err;
    am_config *c = decode(f, fmt, &err);
    if (!c) fail_msg("config: %s", err.msg);
    notifier_apply(f->n, c);
}

/* Sends one alert: labels as "a=b,c=d"; ends 0 = firing (for 30 days). */
static void put(fixture *f, const char *labels, int64_t starts, int64_t ends, int64_t now) {
    label l[16];
    size_t n = 0;
    char copy[2048];
    snprintf(copy, sizeof copy, "%s", labels);
    for (char *save, *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        *eq = 0;
        l[n++] = (label){tok, (uint32_t)strlen(tok), eq + 1, (uint32_t)strlen(eq + 1)};
    }
    labels_sort(l, n);
    label ann = {"summary", 7, "something", 9};
    ruler_alert a = {l, n, &ann, 1, starts, ends ? ends : now + 30 * 86400 * SEC, ends && ends <= now, "http://x/graph"};
    notifier_put(f->n, &a, 1, now);
}

static json_t *body(fixture *f, size_t i) {
    if (i >= f->h.n) fail_msg("only %zu notifications", f->h.n);
    json_error_t e;
    json_t *j = json_loads(f->h.bodies[i], 0, &e);
    assert_non_null(j);
    return j;
}

static const char *jstr(json_t *j, const char *path) {
    /* "alerts.0.labels.instance" style paths. */
    char copy[256];
    snprintf(copy, sizeof copy, "%s", path);
    json_t *cur = j;
    for (char *save, *tok = strtok_r(copy, ".", &save); tok && cur; tok = strtok_r(NULL, ".", &save))
        cur = json_is_array(cur) ? json_array_get(cur, (size_t)atoi(tok)) : json_object_get(cur, tok);
    return cur && json_is_string(cur) ? json_string_value(cur) : "<none>";
}

static size_t nalerts(json_t *j) { return json_array_size(json_object_get(j, "alerts")); }

static const char *WEBHOOK = "alerting:\n"
                             "  route:\n"
                             "    receiver: hook\n"
                             "    group_by: [alertname]\n"
                             "  receivers:\n"
                             "    - name: hook\n"
                             "      webhook_configs: [{url: 'http://127.0.0.1:%u/hook'}]\n";

/* ------------------------------------------------------------ tests */

static void test_group_wait_batches(void **state) {
    fixture *f = *state;
    open_notifier(f);
    configure(f, WEBHOOK);
    put(f, "alertname=Down,instance=a", T0, 0, T0);
    notifier_tick(f->n, T0);
    put(f, "alertname=Down,instance=b", T0 + 5 * SEC, 0, T0 + 5 * SEC);
    notifier_tick(f->n, T0 + 29 * SEC);
    assert_int_equal(f->h.n, 0); /* group_wait is 30s */
    notifier_tick(f->n, T0 + 30 * SEC);
    assert_int_equal(f->h.n, 1);
    json_t *j = body(f, 0);
    assert_int_equal(nalerts(j), 2);
    assert_string_equal(jstr(j, "groupKey"), "{}:{alertname=\"Down\"}");
    assert_string_equal(jstr(j, "status"), "firing");
    assert_string_equal(jstr(j, "alerts.0.labels.instance"), "a");
    assert_string_equal(jstr(j, "alerts.1.labels.instance"), "b");
    assert_string_equal(jstr(j, "externalURL"), "http://promlite.test");
    assert_string_equal(f->h.paths[0], "/hook");
    json_decref(j);
    /* A new alert waits for the group_interval (5m), not group_wait. */
    put(f, "alertname=Down,instance=c", T0 + 40 * SEC, 0, T0 + 40 * SEC);
    notifier_tick(f->n, T0 + 100 * SEC);
    assert_int_equal(f->h.n, 1);
    notifier_tick(f->n, T0 + 330 * SEC);
    assert_int_equal(f->h.n, 2);
    j = body(f, 1);
    assert_int_equal(nalerts(j), 3);
    json_decref(j);
    /* Nothing new: quiet until repeat_interval (4h) has passed. */
    for (int64_t t = 630; t < 4 * 3600 + 330; t += 300) notifier_tick(f->n, T0 + t * SEC);
    assert_int_equal(f->h.n, 2);
    notifier_tick(f->n, T0 + (4 * 3600 + 630) * SEC);
    assert_int_equal(f->h.n, 3);
}

static void test_resolution(void **state) {
    fixture *f = *state;
    open_notifier(f);
    configure(f, WEBHOOK);
    put(f, "alertname=Down,instance=a", T0, 0, T0);
    put(f, "alertname=Down,instance=b", T0, 0, T0);
    notifier_tick(f->n, T0 + 30 * SEC);
    assert_int_equal(f->h.n, 1);
    /* One resolves: send_resolved (on for webhooks) tells at the next flush. */
    put(f, "alertname=Down,instance=a", T0, T0 + 60 * SEC, T0 + 60 * SEC);
    notifier_tick(f->n, T0 + 330 * SEC);
    assert_int_equal(f->h.n, 2);
    json_t *j = body(f, 1);
    assert_string_equal(jstr(j, "status"), "firing");
    assert_int_equal(nalerts(j), 2);
    assert_string_equal(jstr(j, "alerts.0.status"), "resolved");
    assert_string_equal(jstr(j, "alerts.0.endsAt"), "2023-11-14T22:14:20Z");
    assert_string_equal(jstr(j, "alerts.1.status"), "firing");
    json_decref(j);
    /* The other resolves: a resolved notification with just that alert
     * (the first left the group once told). */
    put(f, "alertname=Down,instance=b", T0, T0 + 400 * SEC, T0 + 400 * SEC);
    notifier_tick(f->n, T0 + 630 * SEC);
    assert_int_equal(f->h.n, 3);
    j = body(f, 2);
    assert_string_equal(jstr(j, "status"), "resolved");
    assert_int_equal(nalerts(j), 1);
    assert_string_equal(jstr(j, "alerts.0.labels.instance"), "b");
    json_decref(j);
    notifier_tick(f->n, T0 + 930 * SEC);
    assert_int_equal(f->h.n, 3);
}

static void test_no_send_resolved(void **state) {
    fixture *f = *state;
    open_notifier(f);
    configure(f, "alerting:\n  route: {receiver: hook, group_wait: 1s, group_interval: 10s}\n"
                 "  receivers:\n    - name: hook\n"
                 "      webhook_configs: [{url: 'http://127.0.0.1:%u/', send_resolved: false}]\n");
    put(f, "alertname=A", T0, 0, T0);
    notifier_tick(f->n, T0 + 1 * SEC);
    assert_int_equal(f->h.n, 1);
    put(f, "alertname=A", T0, T0 + 5 * SEC, T0 + 5 * SEC);
    notifier_tick(f->n, T0 + 11 * SEC);
    notifier_tick(f->n, T0 + 21 * SEC);
    assert_int_equal(f->h.n, 1); /* resolution not sent */
    /* Firing again later is news. */
    put(f, "alertname=A", T0 + 30 * SEC, 0, T0 + 30 * SEC);
    notifier_tick(f->n, T0 + 31 * SEC);
    notifier_tick(f->n, T0 + 41 * SEC);
    assert_int_equal(f->h.n, 2);
}

static void test_routing(void **state) {
    fixture *f = *state;
    open_notifier(f);
    configure(f, "alerting:\n"
                 "  route:\n"
                 "    receiver: default\n"
                 "    group_wait: 0s\n"
                 "    routes:\n"
                 "      - matchers: ['severity=\"page\"']\n"
                 "        receiver: pager\n"
                 "        continue: true\n"
                 "      - matchers: ['team=~\"db|storage\"']\n"
                 "        receiver: db\n"
                 "        group_by: ['...']\n"
                 "  receivers:\n"
                 "    - name: default\n      webhook_configs: [{url: 'http://127.0.0.1:%u/default'}]\n"
                 "    - name: pager\n      webhook_configs: [{url: 'http://127.0.0.1:%u/pager'}]\n"
                 "    - name: db\n      webhook_configs: [{url: 'http://127.0.0.1:%u/db'}]\n");
    put(f, "alertname=X,severity=page,team=db", T0, 0, T0);
    put(f, "alertname=Y,team=web", T0, 0, T0);
    notifier_tick(f->n, T0);
    assert_int_equal(f->h.n, 3);
    int pager = 0, db = 0, def = 0;
    for (size_t i = 0; i < f->h.n; i++) {
        json_t *j = body(f, i);
        if (!strcmp(f->h.paths[i], "/pager")) {
            pager++;
            assert_string_equal(jstr(j, "groupKey"), "{}/{severity=\"page\"}:{}");
        } else if (!strcmp(f->h.paths[i], "/db")) {
            db++;
            assert_string_equal(jstr(j, "groupKey"),
                                "{}/{team=~\"db|storage\"}:{alertname=\"X\", severity=\"page\", team=\"db\"}");
        } else {
            def++;
            assert_string_equal(jstr(j, "alerts.0.labels.alertname"), "Y");
        }
        json_decref(j);
    }
    assert_int_equal(pager, 1);
    assert_int_equal(db, 1);
    assert_int_equal(def, 1);
}

static void test_inhibition(void **state) {
    fixture *f = *state;
    open_notifier(f);
    configure(f, "alerting:\n"
                 "  route: {receiver: hook, group_by: [instance], group_wait: 0s}\n"
                 "  receivers:\n    - name: hook\n      webhook_configs: [{url: 'http://127.0.0.1:%u/'}]\n"
                 "  inhibit_rules:\n"
                 "    - source_matchers: [severity=critical]\n"
                 "      target_matchers: [severity=warning]\n"
                 "      equal: [instance]\n");
    put(f, "alertname=NodeDown,instance=a,severity=critical", T0, 0, T0);
    put(f, "alertname=DiskFull,instance=a,severity=warning", T0, 0, T0);
    put(f, "alertname=DiskFull,instance=b,severity=warning", T0, 0, T0);
    notifier_tick(f->n, T0);
    assert_int_equal(f->h.n, 2);
    for (size_t i = 0; i < 2; i++) {
        json_t *j = body(f, i);
        assert_int_equal(nalerts(j), 1); /* instance a: only NodeDown */
        json_decref(j);
    }
    buf b = {0};
    const char *params[] = {"inhibited", "true"};
    assert_int_equal(notifier_alerts_json(f->n, params, 1, T0, &b), 200);
    buf_append(&b, "", 1);
    assert_non_null(strstr((char *)b.data, "\"state\":\"suppressed\""));
    buf_free(&b);
    /* The source resolves: the inhibited alert is sent at the next flush. */
    put(f, "alertname=NodeDown,instance=a,severity=critical", T0, T0 + 10 * SEC, T0 + 10 * SEC);
    notifier_tick(f->n, T0 + 300 * SEC);
    assert_int_equal(f->h.n, 3);
    json_t *j = body(f, 2);
    assert_int_equal(nalerts(j), 2); /* NodeDown resolved, DiskFull firing */
    json_decref(j);
}

static void test_silence(void **state) {
    fixture *f = *state;
    open_notifier(f);
    configure(f, "alerting:\n  route: {receiver: hook, group_wait: 0s, group_interval: 10s}\n"
                 "  receivers:\n    - name: hook\n      webhook_configs: [{url: 'http://127.0.0.1:%u/'}]\n");
    const char *post = "{\"matchers\":[{\"name\":\"alertname\",\"value\":\"Quiet\",\"isRegex\":false,\"isEqual\":true}],"
                       "\"startsAt\":\"2023-11-14T22:13:20Z\",\"endsAt\":\"2023-11-14T23:13:20Z\","
                       "\"createdBy\":\"test\",\"comment\":\"maintenance\"}";
    silences_request q = {"POST", "silences", NULL, 0, post, strlen(post)};
    buf out = {0};
    assert_int_equal(silences_handle(f->sil, &q, T0, &out), 200);
    buf_append(&out, "", 1);
    json_error_t e;
    json_t *j = json_loads((char *)out.data, 0, &e);
    char id[40];
    snprintf(id, sizeof id, "%s", json_string_value(json_object_get(j, "silenceID")));
    json_decref(j);
    buf_free(&out);
    put(f, "alertname=Quiet", T0, 0, T0);
    notifier_tick(f->n, T0);
    notifier_tick(f->n, T0 + 10 * SEC);
    assert_int_equal(f->h.n, 0);
    buf b = {0};
    assert_int_equal(notifier_alerts_json(f->n, NULL, 0, T0 + 10 * SEC, &b), 200);
    buf_append(&b, "", 1);
    char want[128];
    snprintf(want, sizeof want, "\"silencedBy\":[\"%s\"],\"state\":\"suppressed\"", id);
    assert_non_null(strstr((char *)b.data, want));
    buf_free(&b);
    errbuf err;
    assert_int_equal(silences_expire(f->sil, id, T0 + 15 * SEC, &err), 0);
    notifier_tick(f->n, T0 + 20 * SEC);
    assert_int_equal(f->h.n, 1);
}

/* A group muted as a whole keeps its log: lifting the mute does not page
 * again before repeat_interval (Alertmanager stops its pipeline there). */
static void test_mute_keeps_log(void **state) {
    fixture *f = *state;
    open_notifier(f);
    configure(f, "alerting:\n  route: {receiver: hook, group_wait: 0s, group_interval: 10s, repeat_interval: 1h}\n"
                 "  receivers:\n    - name: hook\n      webhook_configs: [{url: 'http://127.0.0.1:%u/'}]\n");
    put(f, "alertname=M", T0, 0, T0);
    notifier_tick(f->n, T0);
    assert_int_equal(f->h.n, 1);
    silence in = {.matchers = (silence_matcher[]){{"alertname", "M", 0, 1}}, .nmatchers = 1,
                  .starts_at_ms = T0 + SEC, .ends_at_ms = T0 + 60 * SEC, .created_by = "t", .comment = "c"};
    char id[37];
    errbuf err;
    if (silences_set(f->sil, &in, T0 + SEC, id, &err)) fail_msg("%s", err.msg);
    for (int64_t t = 10; t <= 120; t += 10) notifier_tick(f->n, T0 + t * SEC);
    assert_int_equal(f->h.n, 1);
}

/* A long group key (many labels, group_by '...') still has its log kept
 * across a restart. */
static void test_long_group_key(void **state) {
    fixture *f = *state;
    const char *cfg = "alerting:\n  route: {receiver: hook, group_by: ['...'], group_wait: 0s}\n"
                      "  receivers:\n    - name: hook\n      webhook_configs: [{url: 'http://127.0.0.1:%u/'}]\n";
    open_notifier(f);
    configure(f, cfg);
    char labels[1024] = "alertname=Long";
    for (int i = 0; i < 6; i++) {
        char one[128];
        snprintf(one, sizeof one, ",label_number_%d=%0100d", i, i);
        strcat(labels, one);
    }
    put(f, labels, T0, 0, T0);
    notifier_tick(f->n, T0);
    assert_int_equal(f->h.n, 1);
    notifier_close(f->n);
    open_notifier(f);
    configure(f, cfg);
    notifier_tick(f->n, T0 + 10 * SEC);
    notifier_tick(f->n, T0 + 400 * SEC);
    assert_int_equal(f->h.n, 1);
}

/* Log entries older than Alertmanager's retention (120h) are forgotten,
 * in storage too: a group is then told again, as if new. */
static void test_log_retention(void **state) {
    fixture *f = *state;
    const char *cfg = "alerting:\n  route: {receiver: hook, group_wait: 0s, group_interval: 5m, repeat_interval: 1000h}\n"
                      "  receivers:\n    - name: hook\n      webhook_configs: [{url: 'http://127.0.0.1:%u/'}]\n";
    open_notifier(f);
    configure(f, cfg);
    put(f, "alertname=Old", T0, T0 + 1000 * 3600 * SEC, T0);
    notifier_tick(f->n, T0);
    assert_int_equal(f->h.n, 1);
    notifier_tick(f->n, T0 + 100 * 3600 * SEC);
    assert_int_equal(f->h.n, 1);
    notifier_tick(f->n, T0 + 121 * 3600 * SEC); /* flushed first, then the entry is collected */
    assert_int_equal(f->h.n, 1);
    notifier_close(f->n);
    open_notifier(f);
    configure(f, cfg);
    notifier_tick(f->n, T0 + 122 * 3600 * SEC);
    assert_int_equal(f->h.n, 2);
}

static void test_retries(void **state) {
    fixture *f = *state;
    open_notifier(f);
    configure(f, "alerting:\n  route: {receiver: hook, group_wait: 0s, group_interval: 1m}\n"
                 "  receivers:\n    - name: hook\n      webhook_configs: [{url: 'http://127.0.0.1:%u/'}]\n");
    f->h.fail_next = 2;
    put(f, "alertname=R", T0, 0, T0);
    notifier_tick(f->n, T0);
    assert_int_equal(f->h.attempts, 1);
    notifier_tick(f->n, T0 + 500); /* backoff 1s: not yet */
    assert_int_equal(f->h.attempts, 1);
    notifier_tick(f->n, T0 + 1 * SEC);
    assert_int_equal(f->h.attempts, 2);
    notifier_tick(f->n, T0 + 2 * SEC); /* backoff now 2s */
    assert_int_equal(f->h.attempts, 2);
    notifier_tick(f->n, T0 + 3 * SEC);
    assert_int_equal(f->h.attempts, 3);
    assert_int_equal(f->h.n, 1);
    buf m = {0};
    notifier_metrics(f->n, &m);
    buf_append(&m, "", 1);
    assert_non_null(strstr((char *)m.data, "promlite_notifications_total{integration=\"webhook\",receiver=\"hook\"} 3\n"));
    assert_non_null(
        strstr((char *)m.data, "promlite_notifications_failed_total{integration=\"webhook\",receiver=\"hook\"} 2\n"));
    assert_non_null(strstr((char *)m.data,
                           "promlite_notification_latency_seconds_count{integration=\"webhook\",receiver=\"hook\"} 3\n"));
    buf_free(&m);
    /* Delivered: the next flush has nothing new. */
    notifier_tick(f->n, T0 + 61 * SEC);
    assert_int_equal(f->h.attempts, 3);
    /* A 400 is not retried. */
    f->h.status = 400;
    put(f, "alertname=R2", T0 + 62 * SEC, 0, T0 + 62 * SEC);
    notifier_tick(f->n, T0 + 62 * SEC); /* a new alert waits for the group_interval */
    assert_int_equal(f->h.attempts, 3);
    notifier_tick(f->n, T0 + 121 * SEC);
    assert_int_equal(f->h.attempts, 4);
    notifier_tick(f->n, T0 + 125 * SEC);
    notifier_tick(f->n, T0 + 135 * SEC);
    assert_int_equal(f->h.attempts, 4);
}

static void test_restart(void **state) {
    fixture *f = *state;
    open_notifier(f);
    configure(f, WEBHOOK);
    put(f, "alertname=P,instance=a", T0, T0 + 3600 * SEC, T0);
    notifier_tick(f->n, T0 + 30 * SEC);
    assert_int_equal(f->h.n, 1);
    notifier_close(f->n);
    /* As after a restart: alerts and the log come back from storage; the
     * group is formed anew and its flush sends nothing new. */
    open_notifier(f);
    configure(f, WEBHOOK);
    notifier_tick(f->n, T0 + 40 * SEC);
    notifier_tick(f->n, T0 + 400 * SEC);
    assert_int_equal(f->h.n, 1);
    notifier_close(f->n);
    /* Down while the alert resolves (its end time passes unrefreshed):
     * after the restart the resolution is owed, and sent. */
    open_notifier(f);
    configure(f, WEBHOOK);
    notifier_tick(f->n, T0 + 3700 * SEC);
    assert_int_equal(f->h.n, 2);
    json_t *j = body(f, 1);
    assert_string_equal(jstr(j, "status"), "resolved");
    json_decref(j);
}

static void test_post_and_list(void **state) {
    fixture *f = *state;
    open_notifier(f);
    configure(f, WEBHOOK);
    buf out = {0};
    const char *bad = "[{\"labels\":{}}]";
    assert_int_equal(notifier_post_json(f->n, bad, strlen(bad), T0, &out), 400);
    buf_append(&out, "", 1);
    assert_string_equal((char *)out.data, "\"at least one label pair required\"");
    buf_reset(&out);
    const char *badname = "[{\"labels\":{\"a-b\":\"x\"}}]";
    assert_int_equal(notifier_post_json(f->n, badname, strlen(badname), T0, &out), 400);
    buf_reset(&out);
    /* One bad alert does not cost the good ones; empty labels are dropped. */
    const char *good = "[{\"labels\":{\"alertname\":\"Posted\",\"job\":\"j\",\"empty\":\"\"},\"annotations\":{\"s\":\"t\"},"
                       "\"startsAt\":\"2023-11-14T22:13:20Z\",\"generatorURL\":\"http://g\"},{\"labels\":{}},"
                       "{\"labels\":{\"a\":\"b\"},\"startsAt\":\"2023-11-14T22:13:20Z\",\"endsAt\":\"2023-11-14T22:00:00Z\"}]";
    assert_int_equal(notifier_post_json(f->n, good, strlen(good), T0, &out), 400);
    buf_append(&out, "", 1);
    assert_string_equal((char *)out.data, "\"at least one label pair required; start time must be before end time\"");
    buf_reset(&out);
    assert_int_equal(notifier_alerts_json(f->n, NULL, 0, T0 + SEC, &out), 200);
    buf_append(&out, "", 1);
    uint64_t fp = am_fingerprint((label[]){{"alertname", 9, "Posted", 6}, {"job", 3, "j", 1}}, 2);
    char want[1024];
    snprintf(want, sizeof want,
             "[{\"annotations\":{\"s\":\"t\"},\"endsAt\":\"2023-11-14T22:18:20.000Z\",\"fingerprint\":\"%016llx\","
             "\"receivers\":[{\"name\":\"hook\"}],\"startsAt\":\"2023-11-14T22:13:20.000Z\",\"status\":{\"inhibitedBy\":[],"
             "\"silencedBy\":[],\"state\":\"active\"},\"updatedAt\":\"2023-11-14T22:13:20.000Z\",\"generatorURL\":"
             "\"http://g\",\"labels\":{\"alertname\":\"Posted\",\"job\":\"j\"}}]",
             (unsigned long long)fp);
    assert_string_equal((char *)out.data, want);
    buf_reset(&out);
    const char *params[] = {"filter", "alertname=\"Other\""};
    assert_int_equal(notifier_alerts_json(f->n, params, 1, T0 + SEC, &out), 200);
    buf_append(&out, "", 1);
    assert_string_equal((char *)out.data, "[]");
    buf_free(&out);
}

static void test_config_errors(void **state) {
    (void)state;
    static const struct {
        const char *text, *want;
    } cases[] = {
        {"alerting:\n  receivers: [{name: a}]\n", "promlite.yml:2:14: no routes provided"},
        {"alerting:\n  route: {group_by: [a]}\n  receivers: [{name: a}]\n",
         "promlite.yml:2:10: root route must specify a default receiver"},
        {"alerting:\n  route: {receiver: b}\n  receivers: [{name: a}]\n",
         "promlite.yml:2: undefined receiver \"b\" used in route"},
        {"alerting:\n  route: {receiver: a, matchers: [x=y]}\n  receivers: [{name: a}]\n",
         "promlite.yml:2:10: root route must not have any matchers"},
        {"alerting:\n  route: {receiver: a, group_by: [x, x]}\n  receivers: [{name: a}]\n",
         "promlite.yml:2:38: duplicated label \"x\" in group_by"},
        {"alerting:\n  route: {receiver: a, group_by: ['...', x]}\n  receivers: [{name: a}]\n",
         "promlite.yml:2:34: cannot have wildcard group_by (`...`) and other other labels at the same time"},
        {"alerting:\n  route: {receiver: a, repeat_interval: 0s}\n  receivers: [{name: a}]\n",
         "promlite.yml:2:41: repeat_interval cannot be zero"},
        {"alerting:\n  route: {receiver: a, routes: [{matchers: ['x=~(']}]}\n  receivers: [{name: a}]\n",
         NULL /* the matcher's own message */},
        {"alerting:\n  templates: [a.tmpl]\n", "promlite.yml:2:3: \"templates\" is not supported by promlite"},
        {"alerting:\n  route: {receiver: a, mute_time_intervals: [x]}\n  receivers: [{name: a}]\n",
         "promlite.yml:2:24: \"mute_time_intervals\" is not supported by promlite"},
        {"alerting:\n  global: {smtp_from: a@b}\n", "promlite.yml:2:12: \"smtp_from\" is not supported by promlite"},
        {"alerting:\n  foo: 1\n", "promlite.yml:2:3: field foo not found in type config.AlertingConfig"},
        {"alerting:\n  alertmanagers: [{api_version: v1}]\n",
         "promlite.yml:2:33: api_version \"v1\" is not supported by promlite: use \"v2\""},
        {"alerting:\n  alertmanagers: [{scheme: ftp}]\n",
         "promlite.yml:2:28: scheme \"ftp\" is not supported: want \"http\" or \"https\""},
        {"alerting:\n  inhibit_rules: [{equal: [a-b]}]\n", "promlite.yml:2:28: invalid label name \"a-b\" in equal list"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        errbuf err = {{0}};
        am_config *c = decode(NULL, cases[i].text, &err);
        if (c) fail_msg("case %zu decoded", i);
        if (cases[i].want) assert_string_equal(err.msg, cases[i].want);
        else assert_non_null(strstr(err.msg, "promlite.yml:2:"));
    }
    /* A full section decodes, with inheritance. */
    errbuf err;
    am_config *c = decode(NULL,
                          "alerting:\n"
                          "  alertmanagers: [{static_configs: [{targets: ['am:9093']}], path_prefix: /am/}]\n"
                          "  route:\n    receiver: a\n    group_by: [alertname]\n    repeat_interval: 1h\n"
                          "    routes: [{match: {team: x}, receiver: b, group_wait: 1s}]\n"
                          "  receivers: [{name: a}, {name: b}]\n",
                          &err);
    if (!c) fail_msg("%s", err.msg);
    assert_int_equal(c->nforwards, 1);
    assert_string_equal(c->forwards[0].path_prefix, "/am");
    assert_string_equal(c->forwards[0].targets[0], "am:9093");
    assert_int_equal(c->route->nroutes, 1);
    am_route *child = c->route->routes[0];
    assert_string_equal(child->key, "{}/{team=\"x\"}");
    assert_int_equal(child->group_wait_ms, 1000);
    assert_int_equal(child->group_interval_ms, 300000);
    assert_int_equal(child->repeat_interval_ms, 3600000);
    assert_int_equal(child->ngroup_by, 1);
    assert_string_equal(child->receiver_name, "b");
    amconfig_free(c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_group_wait_batches, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resolution, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_send_resolved, setup, teardown),
        cmocka_unit_test_setup_teardown(test_routing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inhibition, setup, teardown),
        cmocka_unit_test_setup_teardown(test_silence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mute_keeps_log, setup, teardown),
        cmocka_unit_test_setup_teardown(test_long_group_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_retention, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_post_and_list, setup, teardown),
        cmocka_unit_test(test_config_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
