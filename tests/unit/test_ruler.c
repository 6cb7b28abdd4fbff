/*
 * test_ruler.c - rule evaluation (alert/ruler.h) with a controllable clock:
 * the ruler runs in manual mode and each test evaluates its groups at
 * chosen times over a real tsdb in a temporary folder.
 *
 * Covered: recording rules (output visible to later rules of the same
 * evaluation, staleness, repeated label sets, limits), the alert state
 * machine (pending, firing after `for`, keep_firing_for, resolution,
 * resends), ALERTS and ALERTS_FOR_STATE, restoring `for` state after a
 * restart (both of Prometheus's cases), template expansion including a
 * template that fails at run time, external labels, reloads that keep,
 * copy or drop state, and the JSON of the rules and alerts APIs.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alert/ruler.h"
#include "query/engine.h"

#define T0 1700000000000LL /* a round minute */
#define MIN 60000LL

typedef struct {
    char *labels;   /* formatted alertname + other labels */
    char *annotations;
    int64_t starts, ends;
    int resolved;
    char *url;
} sent_alert;

typedef struct {
    char dir[64];
    tsdb *db;
    ruler *r;
    sent_alert sent[64];
    size_t nsent;
} fixture;

static void notify(void *ctx, const ruler_alert *a, size_t n) {
    fixture *f = ctx;
    for (size_t i = 0; i < n && f->nsent < 64; i++) {
        buf b = {0};
        labels_format(&b, a[i].labels, a[i].nlabels);
        buf_append(&b, "", 1);
        buf c = {0};
        for (size_t k = 0; k < a[i].nannotations; k++)
            buf_printf(&c, "%s%s=%s", k ? "," : "", a[i].annotations[k].name, a[i].annotations[k].value);
        buf_append(&c, "", 1);
        f->sent[f->nsent++] = (sent_alert){(char *)b.data, (char *)c.data, a[i].starts_at_ms, a[i].ends_at_ms,
                                           a[i].resolved, strdup(a[i].generator_url)};
    }
}

static void clear_sent(fixture *f) {
    for (size_t i = 0; i < f->nsent; i++) {
        free(f->sent[i].labels);
        free(f->sent[i].annotations);
        free(f->sent[i].url);
    }
    f->nsent = 0;
}

static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    strcpy(f->dir, "/tmp/test_ruler.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    tsdb_options o = {.path = f->dir};
    errbuf err;
    if (tsdb_open(&o, &f->db, &err)) fail_msg("tsdb_open: %s", err.msg);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    ruler_free(f->r);
    clear_sent(f);
    errbuf err;
    tsdb_close(f->db, &err);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static rule_set *load(const char *text) {
    rule_set *rs = rule_set_new();
    rule_errors errs = {0};
    if (rule_set_add_text(rs, text, strlen(text), "rules.yml", &errs)) fail_msg("load: %s", errs.msgs[0]);
    return rs;
}

static const label ext_labels[] = {{"site", 4, "lab", 3}};
static const ruler_context default_context = {MIN, ext_labels, 1};

static void start(fixture *f, const char *text, int64_t grace_ms) {
    ruler_options o = {.db = f->db,
                       .external_url = "http://promlite.example:9090/",
                       .for_grace_period_ms = grace_ms,
                       .notify = notify,
                       .notify_ctx = f,
                       .manual = 1};
    f->r = ruler_new(&o);
    ruler_apply(f->r, load(text), &default_context);
}

/* Writes one sample of name{labels} (labels as "a=b,c=d"). */
static void put(fixture *f, const char *name, const char *labels, int64_t t, double v) {
    label l[8];
    size_t n = 0;
    char copy[256];
    snprintf(copy, sizeof copy, "%s", labels);
    l[n++] = (label){"__name__", 8, name, (uint32_t)strlen(name)};
    for (char *save, *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        *eq = 0;
        l[n++] = (label){strdup(tok), (uint32_t)strlen(tok), strdup(eq + 1), (uint32_t)strlen(eq + 1)};
    }
    tsdb_appender *a = tsdb_appender_new(f->db);
    tsdb_ref ref;
    errbuf err;
    if (tsdb_appender_ref(a, l, n, &ref, &err)) fail_msg("ref: %s", err.msg);
    tsdb_appender_add(a, ref, t, v);
    if (tsdb_appender_commit(a, NULL, &err)) fail_msg("commit: %s", err.msg);
    tsdb_appender_free(a);
    for (size_t i = 0; i < n; i++)
        if (strcmp(l[i].name, "__name__")) free((char *)l[i].name), free((char *)l[i].value);
}

/* The instant query's answer at t as "labels value; labels value". */
static char *query(fixture *f, const char *q, int64_t t) {
    pq_arena *a = pq_arena_new();
    pq_result res;
    errbuf err;
    if (pq_query_instant(f->db, NULL, a, q, strlen(q), t, &res, &err)) fail_msg("query %s: %s", q, err.msg);
    buf b = {0};
    if (res.type == PQ_TYPE_SCALAR) buf_printf(&b, "%g", res.scalar);
    for (size_t i = 0; i < res.nseries; i++) {
        if (i) buf_printf(&b, "; ");
        labels_format(&b, res.series[i].labels, res.series[i].nlabels);
        buf_printf(&b, " %g", res.series[i].v[0]);
    }
    buf_append(&b, "", 1);
    pq_arena_free(a);
    return (char *)b.data;
}

static void expect_query(fixture *f, const char *q, int64_t t, const char *want) {
    char *got = query(f, q, t);
    if (strcmp(got, want)) fail_msg("%s at %lld: got \"%s\", want \"%s\"", q, (long long)(t - T0), got, want);
    free(got);
}

static char *json(fixture *f, int alerts) {
    buf b = {0};
    if (alerts) ruler_alerts_json(f->r, &b);
    else ruler_rules_json(f->r, &b, NULL);
    buf_append(&b, "", 1);
    return (char *)b.data;
}

static void expect_json_has(fixture *f, int alerts, const char *needle) {
    char *j = json(f, alerts);
    if (!strstr(j, needle)) fail_msg("%s\nhas no %s", j, needle);
    free(j);
}

/* ------------------------------------------------------------ recording */

static void test_recording_chain(void **state) {
    fixture *f = *state;
    put(f, "x", "i=1", T0 - 1000, 2);
    put(f, "x", "i=2", T0 - 1000, 3);
    start(f,
          "groups:\n- name: g\n  rules:\n"
          "  - record: a\n    expr: sum(x)\n    labels: {team: t}\n"
          "  - record: b\n    expr: a * 10\n"
          "  - record: c\n    expr: '7'\n",
          0);
    ruler_eval_group(f->r, 0, T0);
    expect_query(f, "a", T0, "a{team=\"t\"} 5");
    /* b read a's sample of the same evaluation. */
    expect_query(f, "b", T0, "b{team=\"t\"} 50");
    /* A scalar result is one series without labels but the name. */
    expect_query(f, "c", T0, "c{} 7");
    expect_json_has(f, 0, "\"name\":\"a\",\"query\":\"sum(x)\",\"labels\":{\"team\":\"t\"},\"health\":\"ok\"");
    expect_json_has(f, 0, "{\"name\":\"c\",\"query\":\"7\",\"health\":\"ok\",\"evaluationTime\":");
    expect_json_has(f, 0, "\"interval\":60,\"limit\":0,\"evaluationTime\":");
}

static void test_recording_staleness(void **state) {
    fixture *f = *state;
    start(f, "groups:\n- name: g\n  rules:\n  - record: y\n    expr: x > 0\n", 0);
    put(f, "x", "i=1", T0 - 1000, 1);
    put(f, "x", "i=2", T0 - 1000, 1);
    ruler_eval_group(f->r, 0, T0);
    expect_query(f, "y", T0, "y{i=\"1\"} 1; y{i=\"2\"} 1");
    put(f, "x", "i=2", T0 + MIN - 1000, -1);
    put(f, "x", "i=1", T0 + MIN - 1000, 1);
    ruler_eval_group(f->r, 0, T0 + MIN);
    /* y{i="2"} got a staleness marker at T0+1m: gone at once, not after
     * the 5 minute lookback. */
    expect_query(f, "y", T0 + MIN, "y{i=\"1\"} 1");
    expect_query(f, "count_over_time(y{i=\"2\"}[10m])", T0 + MIN, "{i=\"2\"} 1");
}

static void test_recording_errors(void **state) {
    fixture *f = *state;
    put(f, "x", "i=1", T0 - 1000, 1);
    put(f, "x", "i=2", T0 - 1000, 1);
    put(f, "w", "i=1", T0 - 1000, 1);
    start(f,
          "groups:\n- name: g\n  limit: 1\n  rules:\n"
          "  - record: dup\n    expr: '{__name__=~\"x|w\"}'\n"
          "  - record: many\n    expr: x\n"
          "  - record: bad\n    expr: label_replace(x, \"z\", \"$1\", \"i\", \"(\")\n",
          0);
    ruler_eval_group(f->r, 0, T0);
    expect_json_has(f, 0,
                    "\"health\":\"err\",\"lastError\":\"vector contains metrics with the same labelset after "
                    "applying rule labels\"");
    expect_json_has(f, 0, "\"health\":\"err\",\"lastError\":\"exceeded limit of 1 with 2 series\"");
    expect_json_has(f, 0, "\"name\":\"bad\"");
    char *j = json(f, 0);
    assert_non_null(strstr(strstr(j, "\"name\":\"bad\""), "\"health\":\"err\",\"lastError\":\"invalid regular "
                                                               "expression in label_replace(): (\""));
    free(j);
    expect_query(f, "count(dup) or vector(0)", T0, "{} 0");
}

/* ------------------------------------------------------------ alerting */

static void test_alert_lifecycle(void **state) {
    fixture *f = *state;
    start(f,
          "groups:\n- name: g\n  rules:\n"
          "  - alert: High\n    expr: x > 0\n    for: 2m\n"
          "    labels: {severity: page, v: '{{ $value }}x'}\n"
          "    annotations:\n"
          "      summary: '{{ $labels.i }} is {{ $value | humanize }} at {{ $externalLabels.site }}'\n",
          0);
    put(f, "x", "i=1", T0 - 1000, 1500);
    ruler_eval_group(f->r, 0, T0);
    assert_int_equal(f->nsent, 0); /* pending alerts are not sent */
    expect_json_has(f, 1,
                    "{\"alerts\":[{\"labels\":{\"alertname\":\"High\",\"i\":\"1\",\"severity\":\"page\",\"v\":"
                    "\"1500x\"},\"annotations\":{\"summary\":\"1 is 1.5k at lab\"},\"state\":\"pending\","
                    "\"activeAt\":\"2023-11-14T22:13:20Z\",\"value\":\"1.5e+03\"}]}");
    put(f, "x", "i=1", T0 + MIN - 1000, 1500);
    ruler_eval_group(f->r, 0, T0 + MIN);
    assert_int_equal(f->nsent, 0);
    put(f, "x", "i=1", T0 + 2 * MIN - 1000, 1500);
    ruler_eval_group(f->r, 0, T0 + 2 * MIN);
    /* Fires at the first evaluation at least `for` after activeAt. */
    assert_int_equal(f->nsent, 1);
    assert_string_equal(f->sent[0].labels, "{alertname=\"High\",i=\"1\",severity=\"page\",site=\"lab\",v=\"1500x\"}");
    assert_string_equal(f->sent[0].annotations, "summary=1 is 1.5k at lab");
    assert_int_equal(f->sent[0].starts, T0 + 2 * MIN);
    assert_int_equal(f->sent[0].ends, T0 + 2 * MIN + 4 * MIN); /* 4 x max(resend delay, interval) */
    assert_false(f->sent[0].resolved);
    assert_string_equal(f->sent[0].url, "http://promlite.example:9090/graph?g0.expr=x+%3E+0&g0.tab=1");
    expect_query(f, "ALERTS", T0 + 2 * MIN,
                 "ALERTS{alertname=\"High\",alertstate=\"firing\",i=\"1\",severity=\"page\",v=\"1500x\"} 1");
    expect_query(f, "ALERTS_FOR_STATE", T0 + 2 * MIN,
                 "ALERTS_FOR_STATE{alertname=\"High\",i=\"1\",severity=\"page\",v=\"1500x\"} 1.7e+09");
    expect_query(f, "ALERTS_FOR_STATE - 1700000000", T0 + 2 * MIN, "{alertname=\"High\",i=\"1\",severity=\"page\",v=\"1500x\"} 0");
    /* As Go's encoding/json, "<", ">" and "&" are escaped. */
    expect_json_has(f, 0, "{\"state\":\"firing\",\"name\":\"High\",\"query\":\"x \\u003e 0\",\"duration\":120,"
                          "\"keepFiringFor\":0,\"labels\":{\"severity\":\"page\",\"v\":\"{{ $value }}x\"}");

    /* Resent once the resend delay (1m) has passed, not before. */
    for (int m = 3; m <= 4; m++) {
        put(f, "x", "i=1", T0 + m * MIN - 1000, 1500);
        ruler_eval_group(f->r, 0, T0 + m * MIN);
    }
    assert_int_equal(f->nsent, 2);
    assert_int_equal(f->sent[1].starts, T0 + 2 * MIN);
    assert_int_equal(f->sent[1].ends, T0 + 8 * MIN);

    /* The condition clears: resolved at once (no keep_firing_for), sent
     * with its end time; the ALERTS series goes stale. */
    put(f, "x", "i=1", T0 + 5 * MIN - 1000, 0);
    ruler_eval_group(f->r, 0, T0 + 5 * MIN);
    assert_int_equal(f->nsent, 3);
    assert_true(f->sent[2].resolved);
    assert_int_equal(f->sent[2].ends, T0 + 5 * MIN);
    expect_query(f, "ALERTS or vector(0)", T0 + 5 * MIN, "{} 0");
    expect_json_has(f, 1, "{\"alerts\":[]}");
    expect_json_has(f, 0, "{\"state\":\"inactive\",\"name\":\"High\"");
}

static void test_keep_firing_for(void **state) {
    fixture *f = *state;
    start(f, "groups:\n- name: g\n  rules:\n  - alert: K\n    expr: x > 0\n    keep_firing_for: 2m\n", 0);
    put(f, "x", "", T0 - 1000, 1);
    ruler_eval_group(f->r, 0, T0);
    assert_int_equal(f->nsent, 1); /* for 0: fires at once */
    put(f, "x", "", T0 + MIN - 1000, 0);
    ruler_eval_group(f->r, 0, T0 + MIN);
    expect_json_has(f, 1, "\"state\":\"firing\",\"activeAt\":\"2023-11-14T22:13:20Z\",\"keepFiringSince\":"
                          "\"2023-11-14T22:14:20Z\",\"value\":\"1e+00\"");
    ruler_eval_group(f->r, 0, T0 + 2 * MIN);
    expect_json_has(f, 1, "\"state\":\"firing\"");
    ruler_eval_group(f->r, 0, T0 + 3 * MIN);
    expect_json_has(f, 1, "{\"alerts\":[]}");
    assert_true(f->sent[f->nsent - 1].resolved);
    assert_int_equal(f->sent[f->nsent - 1].ends, T0 + 3 * MIN);
    /* Matching again while kept firing resets the clock. */
    put(f, "x", "", T0 + 4 * MIN - 1000, 1);
    ruler_eval_group(f->r, 0, T0 + 4 * MIN);
    expect_json_has(f, 1, "\"state\":\"firing\",\"activeAt\":\"2023-11-14T22:17:20Z\",\"value\"");
}

static void test_pending_dropped_and_limit(void **state) {
    fixture *f = *state;
    start(f,
          "groups:\n- name: g\n  limit: 1\n  rules:\n  - alert: P\n    expr: x > 0\n    for: 5m\n", 0);
    put(f, "x", "i=1", T0 - 1000, 1);
    ruler_eval_group(f->r, 0, T0);
    expect_json_has(f, 1, "\"state\":\"pending\"");
    put(f, "x", "i=1", T0 + MIN - 1000, 0);
    ruler_eval_group(f->r, 0, T0 + MIN);
    /* A pending alert that stops matching is dropped, never sent. */
    expect_json_has(f, 1, "{\"alerts\":[]}");
    assert_int_equal(f->nsent, 0);
    put(f, "x", "i=1", T0 + 2 * MIN - 1000, 1);
    put(f, "x", "i=2", T0 + 2 * MIN - 1000, 1);
    ruler_eval_group(f->r, 0, T0 + 2 * MIN);
    expect_json_has(f, 0, "\"health\":\"err\",\"lastError\":\"exceeded limit of 1 with 2 alerts\"");
    expect_json_has(f, 1, "{\"alerts\":[]}");
}

static void test_template_error_kept(void **state) {
    fixture *f = *state;
    start(f,
          "groups:\n- name: g\n  rules:\n  - alert: T\n    expr: vector(1)\n"
          "    annotations: {a: '{{ humanize \"x\" }}', b: '{{ $labels.nosuch }}|{{ humanizeDuration 90061 }}'}\n",
          0);
    ruler_eval_group(f->r, 0, T0);
    assert_int_equal(f->nsent, 1);
    assert_non_null(strstr(f->sent[0].annotations, "a=<error expanding template: "));
    assert_non_null(strstr(f->sent[0].annotations, ",b=|1d 1h 1m 1s"));
}

/* ------------------------------------------------------------ restore */

/* Runs a ruler for `minutes` evaluations from T0 with x>0, then stops it
 * as a restart would. */
static void run_then_stop(fixture *f, const char *rules, int minutes) {
    start(f, rules, 0);
    for (int m = 0; m < minutes; m++) {
        put(f, "x", "", T0 + m * MIN - 1000, 1);
        ruler_eval_group(f->r, 0, T0 + m * MIN);
    }
    ruler_free(f->r);
    f->r = NULL;
}

static void test_restore_shifts_by_downtime(void **state) {
    fixture *f = *state;
    const char *rules = "groups:\n- name: g\n  rules:\n  - alert: R\n    expr: x > 0\n    for: 15m\n";
    run_then_stop(f, rules, 6); /* pending 5 minutes; last ALERTS_FOR_STATE at T0+5m */
    start(f, rules, 0);         /* grace period 10m */
    for (int m = 10; m <= 11; m++) {
        put(f, "x", "", T0 + m * MIN - 1000, 1);
        ruler_eval_group(f->r, 0, T0 + m * MIN);
    }
    /* Down 6 minutes (T0+5m to T0+11m): activeAt moves from T0 by 6m. */
    expect_json_has(f, 1, "\"state\":\"pending\",\"activeAt\":\"2023-11-14T22:19:20Z\"");
    for (int m = 12; m <= 21; m++) {
        put(f, "x", "", T0 + m * MIN - 1000, 1);
        ruler_eval_group(f->r, 0, T0 + m * MIN);
    }
    assert_int_equal(f->nsent, 1); /* 6m + 15m */
    assert_int_equal(f->sent[0].starts, T0 + 21 * MIN);
}

static void test_restore_grace_period(void **state) {
    fixture *f = *state;
    const char *rules = "groups:\n- name: g\n  rules:\n  - alert: R\n    expr: x > 0\n    for: 15m\n";
    run_then_stop(f, rules, 13); /* pending 12 minutes; 3 left, less than the grace period */
    start(f, rules, 0);
    for (int m = 14; m <= 15; m++) {
        put(f, "x", "", T0 + m * MIN - 1000, 1);
        ruler_eval_group(f->r, 0, T0 + m * MIN);
    }
    /* activeAt = restore time + grace (10m) - for (15m) = T0+10m. */
    expect_json_has(f, 1, "\"state\":\"pending\",\"activeAt\":\"2023-11-14T22:23:20Z\"");
    for (int m = 16; m <= 25; m++) {
        put(f, "x", "", T0 + m * MIN - 1000, 1);
        ruler_eval_group(f->r, 0, T0 + m * MIN);
    }
    assert_int_equal(f->nsent, 1);
    assert_int_equal(f->sent[0].starts, T0 + 25 * MIN);
}

static void test_restore_firing(void **state) {
    fixture *f = *state;
    const char *rules = "groups:\n- name: g\n  rules:\n  - alert: R\n    expr: x > 0\n    for: 10m\n";
    run_then_stop(f, rules, 13); /* firing since T0+10m */
    clear_sent(f);
    start(f, rules, 0);
    for (int m = 14; m <= 16; m++) {
        put(f, "x", "", T0 + m * MIN - 1000, 1);
        ruler_eval_group(f->r, 0, T0 + m * MIN);
    }
    /* Restored after the second evaluation (T0+15m), firing at the third,
     * with the original activeAt. */
    expect_json_has(f, 1, "\"state\":\"firing\",\"activeAt\":\"2023-11-14T22:13:20Z\"");
    assert_int_equal(f->nsent, 1);
    assert_int_equal(f->sent[0].starts, T0 + 16 * MIN);
}

/* ------------------------------------------------------------ reload */

static void test_reload(void **state) {
    fixture *f = *state;
    const char *one = "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: x > 0\n    for: 5m\n";
    start(f, one, 0);
    put(f, "x", "", T0 - 1000, 1);
    ruler_eval_group(f->r, 0, T0);
    /* The same text: the group and its pending alert carry over. */
    ruler_apply(f->r, load(one), &default_context);
    put(f, "x", "", T0 + MIN - 1000, 1);
    ruler_eval_group(f->r, 0, T0 + MIN);
    expect_json_has(f, 1, "\"state\":\"pending\",\"activeAt\":\"2023-11-14T22:13:20Z\"");
    /* A changed group: A keeps its state, the new rule starts fresh. */
    ruler_apply(f->r, load("groups:\n- name: g\n  rules:\n  - record: r\n    expr: vector(1)\n"
                           "  - alert: A\n    expr: x > 0\n    for: 5m\n"), &default_context);
    ruler_eval_group(f->r, 0, T0 + 2 * MIN);
    expect_json_has(f, 1, "\"state\":\"pending\",\"activeAt\":\"2023-11-14T22:13:20Z\"");
    expect_query(f, "r", T0 + 2 * MIN, "r{} 1");
    /* The group removed: its series are marked stale. */
    ruler_apply(f->r, load("groups: []\n"), &default_context);
    assert_int_equal(ruler_group_count(f->r), 0);
    expect_query(f, "r or vector(0)", T0 + 2 * MIN + 60 * MIN, "{} 0");
    char *j = json(f, 0);
    assert_string_equal(j, "{\"groups\":[]}");
    free(j);
}

/* Reload details Prometheus users rely on: rules are matched by name and
 * labels; a removed rule's series go stale; an alerting rule added by a
 * reload writes ALERTS at once (nothing to restore). */
static void test_reload_matching(void **state) {
    fixture *f = *state;
    start(f,
          "groups:\n- name: g\n  rules:\n"
          "  - alert: Disk\n    expr: x > 0\n    labels: {severity: warning}\n"
          "  - record: gone\n    expr: vector(1)\n",
          0);
    put(f, "x", "", T0 - 1000, 1);
    ruler_eval_group(f->r, 0, T0);
    ruler_eval_group(f->r, 0, T0 + MIN);
    ruler_eval_group(f->r, 0, T0 + 2 * MIN);
    assert_int_equal(f->nsent, 2); /* fired at T0, resent at T0+2m */
    expect_query(f, "gone", T0 + 2 * MIN, "gone{} 1");
    /* A critical Disk rule is inserted before the warning one, the
     * recording rule removed, an alerting rule added. */
    ruler_apply(f->r,
                load("groups:\n- name: g\n  rules:\n"
                     "  - alert: Disk\n    expr: x > 0\n    labels: {severity: critical}\n    for: 10m\n"
                     "  - alert: Disk\n    expr: x > 0\n    labels: {severity: warning}\n"
                     "  - alert: New\n    expr: vector(1)\n"),
                &default_context);
    put(f, "x", "", T0 + 3 * MIN - 1000, 1);
    ruler_eval_group(f->r, 0, T0 + 3 * MIN);
    /* The warning alert kept its state (still firing since T0, not sent
     * again before the resend delay... which has passed: sent once more,
     * with its original start); the critical one is new and pending. */
    expect_json_has(f, 1, "{\"labels\":{\"alertname\":\"Disk\",\"severity\":\"critical\"},\"annotations\":{},"
                          "\"state\":\"pending\",\"activeAt\":\"2023-11-14T22:16:20Z\"");
    expect_json_has(f, 1, "{\"labels\":{\"alertname\":\"Disk\",\"severity\":\"warning\"},\"annotations\":{},"
                          "\"state\":\"firing\",\"activeAt\":\"2023-11-14T22:13:20Z\"");
    for (size_t i = 0; i < f->nsent; i++) assert_false(f->sent[i].resolved);
    /* The removed rule's series is stale at once. */
    expect_query(f, "gone or vector(0)", T0 + 3 * MIN, "{} 0");
    /* The new alerting rule writes ALERTS at its first evaluation. */
    expect_query(f, "ALERTS{alertname=\"New\"}", T0 + 3 * MIN,
                 "ALERTS{alertname=\"New\",alertstate=\"firing\"} 1");
}

static void test_metrics(void **state) {
    fixture *f = *state;
    start(f, "groups:\n- name: g\n  rules:\n  - record: r\n    expr: vector(1)\n", 0);
    ruler_eval_group(f->r, 0, T0);
    ruler_eval_group(f->r, 0, T0 + MIN);
    buf b = {0};
    ruler_metrics(f->r, &b);
    buf_append(&b, "", 1);
    assert_non_null(strstr((char *)b.data, "prometheus_rule_evaluations_total{rule_group=\"rules.yml;g\"} 2\n"));
    assert_non_null(strstr((char *)b.data, "prometheus_rule_group_rules{rule_group=\"rules.yml;g\"} 1\n"));
    buf_free(&b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_recording_chain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recording_staleness, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recording_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alert_lifecycle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keep_firing_for, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pending_dropped_and_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_template_error_kept, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restore_shifts_by_downtime, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restore_grace_period, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restore_firing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reload, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reload_matching, setup, teardown),
        cmocka_unit_test_setup_teardown(test_metrics, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
