/*
 * test_template.c - the Go text/template engine: Prometheus 2.42's
 * template_test.go cases (TestTemplateExpansion) with their exact expected
 * output and error messages, the alert-expansion prefix, the control
 * structures, whitespace trimming, variables and errors of Go's
 * text/template (exec_test.go, parse_test.go), fmt's verbs, Alertmanager's
 * functions and data methods, and the execution limits.
 *
 * Each table case parses a template, executes it against one of the
 * fixtures below and compares the output, or the error message, with the
 * exact text Go prints.  The query function's hook answers from a fixed
 * set of samples, like Prometheus's test does.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert/template.h"

#define PROM TMPL_FUNCS_PROMETHEUS
#define AM TMPL_FUNCS_ALERTMANAGER

/* Fixtures: what dot is. */
enum { D_NIL, D_ALERT, D_MAP, D_AM };

#define S(d, lit) tmpl_string(d, lit, sizeof(lit) - 1)
#define L(n, v) {n, sizeof(n) - 1, v, sizeof(v) - 1}

static const label alert_labels[] = {L("alertname", "HighLoad"), L("instance", "host1:9100"), L("job", "node")};
static const label external_labels[] = {L("cluster", "eu1"), L("replica", "a")};

static tmpl_value *float_list(tmpl_data *d, const double *v, size_t n) {
    tmpl_value *l = tmpl_list(d, TMPL_LIST_ANY, n);
    for (size_t i = 0; i < n; i++) tmpl_list_push(d, l, tmpl_float(d, v[i]));
    return l;
}

static tmpl_value *int_list(tmpl_data *d, const int64_t *v, size_t n) {
    tmpl_value *l = tmpl_list(d, TMPL_LIST_ANY, n);
    for (size_t i = 0; i < n; i++) tmpl_list_push(d, l, tmpl_int(d, v[i]));
    return l;
}

static tmpl_value *string_list(tmpl_data *d, const char *const *v, size_t n) {
    tmpl_value *l = tmpl_list(d, TMPL_LIST_ANY, n);
    for (size_t i = 0; i < n; i++) tmpl_list_push(d, l, tmpl_string(d, v[i], strlen(v[i])));
    return l;
}

#define NELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* A generic map[string]interface{} with one value of every kind and the
 * input lists of Prometheus's humanize tests. */
static const tmpl_value *map_fixture(tmpl_data *d) {
    tmpl_value *m = tmpl_map(d, TMPL_MAP_ANY, 0);
    tmpl_map_put(d, m, "Str", 3, S(d, "hello"));
    tmpl_map_put(d, m, "EmptyStr", 8, S(d, ""));
    tmpl_map_put(d, m, "Int", 3, tmpl_int(d, 42));
    tmpl_map_put(d, m, "Zero", 4, tmpl_int(d, 0));
    tmpl_map_put(d, m, "Float", 5, tmpl_float(d, 1.5));
    tmpl_map_put(d, m, "Big", 3, tmpl_float(d, 1e6));
    tmpl_map_put(d, m, "True", 4, tmpl_bool(1));
    tmpl_map_put(d, m, "False", 5, tmpl_bool(0));
    tmpl_map_put(d, m, "Nil", 3, tmpl_nil());
    tmpl_value *list = tmpl_list(d, TMPL_LIST_ANY, 3);
    tmpl_list_push(d, list, tmpl_int(d, 1));
    tmpl_list_push(d, list, S(d, "two"));
    tmpl_list_push(d, list, tmpl_float(d, 3.5));
    tmpl_map_put(d, m, "List", 4, list);
    tmpl_map_put(d, m, "Empty", 5, tmpl_list(d, TMPL_LIST_ANY, 0));
    tmpl_value *inner = tmpl_map(d, TMPL_MAP_ANY, 2);
    tmpl_map_put(d, inner, "b", 1, tmpl_int(d, 2));
    tmpl_map_put(d, inner, "a", 1, tmpl_int(d, 1));
    tmpl_map_put(d, m, "Map", 3, inner);
    tmpl_map_put(d, m, "Labels", 6, tmpl_labels(d, TMPL_MAP_STRINGS, alert_labels, NELEMS(alert_labels)));
    tmpl_map_put(d, m, "Time", 4, tmpl_time(d, 1435065584, 128000000));
    tmpl_map_put(d, m, "ZeroTime", 8, tmpl_time(d, -62135596800LL, 0));

    static const double floats[] = {0.0, 1.0, 1234567.0, .12};
    tmpl_map_put(d, m, "Floats", 6, float_list(d, floats, NELEMS(floats)));
    static const char *const strs[] = {"0.0", "1.0", "1234567.0", ".12"};
    tmpl_map_put(d, m, "Strs", 4, string_list(d, strs, NELEMS(strs)));
    static const int64_t ints[] = {0, -1, 1, 1234567, INT64_MAX};
    tmpl_map_put(d, m, "Ints", 4, int_list(d, ints, NELEMS(ints)));
    static const double uints[] = {0, 1, 1234567, 18446744073709551615.0};
    tmpl_map_put(d, m, "Uints", 5, float_list(d, uints, NELEMS(uints)));
    static const double floats1024[] = {0.0, 1.0, 1048576.0, .12};
    tmpl_map_put(d, m, "Floats1024", 10, float_list(d, floats1024, NELEMS(floats1024)));
    static const char *const strs1024[] = {"0.0", "1.0", "1048576.0", ".12"};
    tmpl_map_put(d, m, "Strs1024", 8, string_list(d, strs1024, NELEMS(strs1024)));
    static const double durations[] = {0, 1, 60, 3600, 86400, 86400 + 3600, -(86400 * 2 + 3600 * 3 + 60 * 4 + 5),
                                       899.99};
    tmpl_map_put(d, m, "Durations", 9, float_list(d, durations, NELEMS(durations)));
    static const char *const durstrs[] = {"0", "1", "60", "3600", "86400"};
    tmpl_map_put(d, m, "DurStrs", 7, string_list(d, durstrs, NELEMS(durstrs)));
    static const double subsecond[] = {.1, .0001, .12345, 60.1, 60.5, 1.2345, 12.345};
    tmpl_map_put(d, m, "Subsecond", 9, float_list(d, subsecond, NELEMS(subsecond)));
    static const char *const subsecstrs[] = {".1", ".0001", ".12345", "60.1", "60.5", "1.2345", "12.345"};
    tmpl_map_put(d, m, "SubsecStrs", 10, string_list(d, subsecstrs, NELEMS(subsecstrs)));
    static const int64_t durints[] = {0, -1, 1, 1234567};
    tmpl_map_put(d, m, "DurInts", 7, int_list(d, durints, NELEMS(durints)));
    static const double special[] = {INFINITY, -INFINITY, NAN};
    tmpl_map_put(d, m, "Special", 7, float_list(d, special, NELEMS(special)));
    static const char *const specialstrs[] = {"+Inf", "-Inf", "NaN"};
    tmpl_map_put(d, m, "SpecialStrs", 11, string_list(d, specialstrs, NELEMS(specialstrs)));
    static const int64_t stamps[] = {0, -1, 1, 1234567, 9223372036};
    tmpl_map_put(d, m, "Stamps", 6, int_list(d, stamps, NELEMS(stamps)));
    static const int64_t badstamps[] = {INT64_MIN, INT64_MAX};
    tmpl_map_put(d, m, "BadStamps", 9, int_list(d, badstamps, NELEMS(badstamps)));
    static const double badustamps[] = {18446744073709551615.0};
    tmpl_map_put(d, m, "BadUStamps", 10, float_list(d, badustamps, NELEMS(badustamps)));
    return m;
}

static const tmpl_value *kv(tmpl_data *d, const label *ls, size_t n) { return tmpl_labels(d, TMPL_MAP_KV, ls, n); }

static const tmpl_value *am_alert(tmpl_data *d, const char *status, const label *ls, size_t n, const char *summary,
                                  int64_t starts, int64_t ends) {
    tmpl_value *a = tmpl_struct(d, "template.Alert", 7);
    tmpl_map_put(d, a, "Status", 6, tmpl_string(d, status, strlen(status)));
    tmpl_map_put(d, a, "Labels", 6, kv(d, ls, n));
    label *ann = (label *)tmpl_data_copy_labels(d, (const label[]){L("summary", "")}, 1);
    ann[0].value = summary;
    ann[0].value_len = (uint32_t)strlen(summary);
    tmpl_map_put(d, a, "Annotations", 11, kv(d, ann, 1));
    tmpl_map_put(d, a, "StartsAt", 8, tmpl_time(d, starts, 500000000));
    tmpl_map_put(d, a, "EndsAt", 6, ends ? tmpl_time(d, ends, 0) : tmpl_time(d, -62135596800LL, 0));
    tmpl_map_put(d, a, "GeneratorURL", 12, S(d, "http://prom:9090/graph"));
    tmpl_map_put(d, a, "Fingerprint", 11, S(d, "a1b2c3"));
    return a;
}

/* Alertmanager's template.Data of a notification: one alert firing, one
 * resolved. */
static const tmpl_value *am_fixture(tmpl_data *d) {
    static const label a1[] = {L("alertname", "HighLoad"), L("instance", "a:9100"), L("job", "node")};
    static const label a2[] = {L("alertname", "HighLoad"), L("instance", "b:9100"), L("job", "node")};
    static const label group[] = {L("alertname", "HighLoad")};
    static const label common[] = {L("account", "ops"), L("alertname", "HighLoad"), L("job", "node"),
                                   L("severity", "page")};
    static const label annotations[] = {L("summary", "Load is high")};
    tmpl_value *alerts = tmpl_list(d, TMPL_LIST_ALERTS, 2);
    tmpl_list_push(d, alerts, am_alert(d, "firing", a1, 3, "Load high on a", 1700000000, 0));
    tmpl_list_push(d, alerts, am_alert(d, "resolved", a2, 3, "Load high on b", 1699990000, 1700000100));
    tmpl_value *data = tmpl_struct(d, "*template.Data", 7);
    tmpl_map_put(d, data, "Receiver", 8, S(d, "ops-team"));
    tmpl_map_put(d, data, "Status", 6, S(d, "firing"));
    tmpl_map_put(d, data, "Alerts", 6, alerts);
    tmpl_map_put(d, data, "GroupLabels", 11, kv(d, group, 1));
    tmpl_map_put(d, data, "CommonLabels", 12, kv(d, common, 4));
    tmpl_map_put(d, data, "CommonAnnotations", 17, kv(d, annotations, 1));
    tmpl_map_put(d, data, "ExternalURL", 11, S(d, "http://am:9093"));
    return data;
}

static const tmpl_value *fixture(tmpl_data *d, int which) {
    switch (which) {
    case D_ALERT:
        return tmpl_alert_data(d, alert_labels, NELEMS(alert_labels), external_labels, NELEMS(external_labels),
                               "http://prom:9090", 0.8512);
    case D_MAP: return map_fixture(d);
    case D_AM: return am_fixture(d);
    default: return NULL;
    }
}

/* The query hook: "missing" has no samples, "error" fails, a query with
 * __value__ returns that label, anything else two samples of "metric". */
static int query(void *ctx, const char *q, size_t len, tmpl_data *d, const tmpl_value **out, errbuf *err) {
    int *calls = ctx;
    if (calls) (*calls)++;
    tmpl_value *l = tmpl_list(d, TMPL_LIST_SAMPLES, 2);
    *out = l;
    if (len == 7 && memcmp(q, "missing", 7) == 0) return 0;
    if (len == 5 && memcmp(q, "error", 5) == 0) return errf(err, "bad query");
    if (memmem(q, len, "__value__", 9)) {
        static const label v[] = {L("__name__", "metric"), L("__value__", "a")};
        tmpl_list_push(d, l, tmpl_sample(d, v, 2, 11));
        return 0;
    }
    static const label b[] = {L("__name__", "metric"), L("instance", "b")};
    static const label a[] = {L("__name__", "metric"), L("instance", "a")};
    tmpl_list_push(d, l, tmpl_sample(d, b, 2, 21));
    tmpl_list_push(d, l, tmpl_sample(d, a, 2, 11));
    return 0;
}

typedef struct {
    const char *text;
    int data;
    const char *want;       /* output; NULL when the case fails */
    const char *err;        /* the error message */
    int alert;              /* parsed with tmpl_parse_alert() */
    tmpl_missing_key missing;
    unsigned funcs;         /* 0: Prometheus's and Alertmanager's */
} tcase;

#define OUT(t, d, w) {t, d, w, NULL, 0, TMPL_MISSING_ZERO, 0}
#define ERR(t, d, e) {t, d, NULL, e, 0, TMPL_MISSING_ZERO, 0}

/* Parses and executes one case; returns 1 when it behaved as expected,
 * printing what happened otherwise. */
static int run_case(const tcase *c) {
    tmpl_options po = {.funcs = c->funcs ? c->funcs : PROM | AM};
    tmpl *t = NULL;
    errbuf err = {{0}};
    size_t len = strlen(c->text);
    int rc = c->alert ? tmpl_parse_alert("test", c->text, len, &po, &t, &err)
                      : tmpl_parse("test", c->text, len, &po, &t, &err);
    buf out = {0};
    if (rc == 0) {
        tmpl_data *d = tmpl_data_new();
        tmpl_exec_options eo = {.query = query, .external_url = "http://testhost:9090/path/prefix",
                                .missing_key = c->missing};
        buf_append(&out, "<before>", 8);
        rc = tmpl_execute(t, fixture(d, c->data), &eo, &out, &err);
        tmpl_data_free(d);
        tmpl_free(t);
        if (rc != 0 && out.len != 8) {
            print_error("case %s: output changed on error\n", c->text);
            buf_free(&out);
            return 0;
        }
    }
    int ok;
    if (c->want) {
        ok = rc == 0 && out.len - 8 == strlen(c->want) && memcmp(out.data + 8, c->want, out.len - 8) == 0;
        if (!ok) {
            if (rc == 0)
                print_error("case %s\n  want [%s]\n  got  [%.*s]\n", c->text, c->want, (int)(out.len - 8),
                            (char *)out.data + 8);
            else print_error("case %s\n  want [%s]\n  error %s\n", c->text, c->want, err.msg);
        }
    } else {
        ok = rc != 0 && strcmp(err.msg, c->err) == 0;
        if (!ok) {
            if (rc != 0) print_error("case %s\n  want error %s\n  got error  %s\n", c->text, c->err, err.msg);
            else print_error("case %s\n  want error %s\n  got [%.*s]\n", c->text, c->err, (int)(out.len - 8),
                             (char *)out.data + 8);
        }
    }
    buf_free(&out);
    return ok;
}

static void run_cases(const tcase *cases, size_t n) {
    size_t failed = 0;
    for (size_t i = 0; i < n; i++) failed += !run_case(&cases[i]);
    assert_int_equal(failed, 0);
}

/* ------------------------------------------------------------ Prometheus */

/* Prometheus 2.42 template_test.go, TestTemplateExpansion (text mode);
 * Prometheus prefixes the messages with "error parsing/executing template
 * test: ", which is the caller's. */
static void test_prometheus_expansion(void **state) {
    (void)state;
    static const tcase cases[] = {
        OUT("plain text", D_NIL, "plain text"),
        OUT("{{ 1 }}", D_NIL, "1"),
        ERR("{{\xc2\xa0}}", D_NIL, "template: test:1: unrecognized character in action: U+00A0"),
        OUT("{{ \"<b>\" }}", D_NIL, "<b>"),
        OUT("{{ \"<b>\" | safeHtml }}", D_NIL, "<b>"),
        OUT("{{define \"x\"}}{{.arg0}} {{.arg1}}{{end}}{{template \"x\" (args 1 \"2\")}}", D_NIL, "1 2"),
        OUT("{{ query \"metric{instance='a'}\" | first | value }}", D_NIL, "21"),
        OUT("{{ query \"metric{instance='a'}\" | first | label \"instance\" }}", D_NIL, "b"),
        OUT("{{ query \"metric{__value__='a'}\" | first | strvalue }}", D_NIL, "a"),
        OUT("{{ query \"metric{instance='a'}\" | first | label \"foo\" }}", D_NIL, ""),
        OUT("{{ $x := query \"metric\" | first }}{{ $x.Labels.foo }}", D_NIL, ""),
        OUT("{{ range query \"metric\" | sortByLabel \"instance\" }}{{.Labels.instance}}:{{.Value}}: {{end}}", D_NIL,
            "a:11: b:21: "),
        OUT("{{ \"foo.example.com\" | stripPort }}", D_NIL, "foo.example.com"),
        OUT("{{ \"foo.example.com:12345\" | stripPort }}", D_NIL, "foo.example.com"),
        OUT("{{ \"192.0.2.1\" | stripPort }}", D_NIL, "192.0.2.1"),
        OUT("{{ \"192.0.2.1:12345\" | stripPort }}", D_NIL, "192.0.2.1"),
        OUT("{{ \"2001:0DB8::1\" | stripPort }}", D_NIL, "2001:0DB8::1"),
        OUT("{{ \"[2001:0DB8::1]:12345\" | stripPort }}", D_NIL, "2001:0DB8::1"),
        OUT("{{ \"[2001:0DB8::1]::12345\" | stripPort }}", D_NIL, "[2001:0DB8::1]::12345"),
        OUT("{{ .Foo }}", D_NIL, "<no value>"),
        {"{{ .Foo }}", D_NIL, "<no value>", NULL, 0, TMPL_MISSING_DEFAULT, 0},
        {"{{ .Foo }}", D_NIL, NULL, "template: test:1:3: executing \"test\" at <.Foo>: nil data; no entry for key \"Foo\"",
         0, TMPL_MISSING_ERROR, 0},
        ERR("{{", D_NIL, "template: test:1: unclosed action"),
        ERR("{{ query \"missing\" | first }}", D_NIL,
            "template: test:1:21: executing \"test\" at <first>: error calling first: first() called on vector with "
            "no elements"),
        ERR("{{ (query \"missing\").banana }}", D_NIL,
            "template: test:1:10: executing \"test\" at <\"missing\">: can't evaluate field banana in type "
            "template.queryResult"),
        OUT("{{ reReplaceAll \"(a)b\" \"x$1\" \"ab\" }}", D_NIL, "xa"),
        OUT("{{ range .Floats }}{{ humanize . }}:{{ end }}", D_MAP, "0:1:1.235M:120m:"),
        OUT("{{ range .Strs }}{{ humanize . }}:{{ end }}", D_MAP, "0:1:1.235M:120m:"),
        ERR("{{ humanize \"one\" }}", D_NIL,
            "template: test:1:3: executing \"test\" at <humanize \"one\">: error calling humanize: "
            "strconv.ParseFloat: parsing \"one\": invalid syntax"),
        OUT("{{ range .Ints }}{{ humanize . }}:{{ end }}", D_MAP, "0:-1:1:1.235M:9.223E:"),
        OUT("{{ range .Uints }}{{ humanize . }}:{{ end }}", D_MAP, "0:1:1.235M:18.45E:"),
        OUT("{{ range .Floats1024 }}{{ humanize1024 . }}:{{ end }}", D_MAP, "0:1:1Mi:0.12:"),
        OUT("{{ range .Strs1024 }}{{ humanize1024 . }}:{{ end }}", D_MAP, "0:1:1Mi:0.12:"),
        ERR("{{ humanize1024 \"one\" }}", D_NIL,
            "template: test:1:3: executing \"test\" at <humanize1024 \"one\">: error calling humanize1024: "
            "strconv.ParseFloat: parsing \"one\": invalid syntax"),
        OUT("{{ range .Ints }}{{ humanize1024 . }}:{{ end }}", D_MAP, "0:-1:1:1.177Mi:8Ei:"),
        OUT("{{ range .Uints }}{{ humanize1024 . }}:{{ end }}", D_MAP, "0:1:1.177Mi:16Ei:"),
        OUT("{{ range .Durations }}{{ humanizeDuration . }}:{{ end }}", D_MAP,
            "0s:1s:1m 0s:1h 0m 0s:1d 0h 0m 0s:1d 1h 0m 0s:-2d 3h 4m 5s:14m 59s:"),
        OUT("{{ range .DurStrs }}{{ humanizeDuration . }}:{{ end }}", D_MAP, "0s:1s:1m 0s:1h 0m 0s:1d 0h 0m 0s:"),
        OUT("{{ range .Subsecond }}{{ humanizeDuration . }}:{{ end }}", D_MAP,
            "100ms:100us:123.5ms:1m 0s:1m 0s:1.234s:12.35s:"),
        OUT("{{ range .SubsecStrs }}{{ humanizeDuration . }}:{{ end }}", D_MAP,
            "100ms:100us:123.5ms:1m 0s:1m 0s:1.234s:12.35s:"),
        ERR("{{ humanizeDuration \"one\" }}", D_NIL,
            "template: test:1:3: executing \"test\" at <humanizeDuration \"one\">: error calling humanizeDuration: "
            "strconv.ParseFloat: parsing \"one\": invalid syntax"),
        OUT("{{ range .DurInts }}{{ humanizeDuration . }}:{{ end }}", D_MAP, "0s:-1s:1s:14d 6h 56m 7s:"),
        OUT("{{ range .Special }}{{ humanize . }}:{{ humanize1024 . }}:{{ humanizeDuration . }}:"
            "{{humanizeTimestamp .}}:{{ end }}",
            D_MAP, "+Inf:+Inf:+Inf:+Inf:-Inf:-Inf:-Inf:-Inf:NaN:NaN:NaN:NaN:"),
        OUT("{{ range .SpecialStrs }}{{ humanize . }}:{{ humanize1024 . }}:{{ humanizeDuration . }}:"
            "{{humanizeTimestamp .}}:{{ end }}",
            D_MAP, "+Inf:+Inf:+Inf:+Inf:-Inf:-Inf:-Inf:-Inf:NaN:NaN:NaN:NaN:"),
        OUT("{{ -0.22222 | humanizePercentage }}:{{ 0.0 | humanizePercentage }}:{{ 0.1234567 | humanizePercentage }}:"
            "{{ 1.23456 | humanizePercentage }}",
            D_NIL, "-22.22%:0%:12.35%:123.5%"),
        OUT("{{ range .Ints }}{{ humanizePercentage . }}:{{ end }}", D_MAP, "0%:-100%:100%:1.235e+08%:9.223e+20%:"),
        OUT("{{ range .Uints }}{{ humanizePercentage . }}:{{ end }}", D_MAP, "0%:100%:1.235e+08%:1.845e+21%:"),
        OUT("{{ \"-0.22222\" | humanizePercentage }}:{{ \"0.0\" | humanizePercentage }}:"
            "{{ \"0.1234567\" | humanizePercentage }}:{{ \"1.23456\" | humanizePercentage }}",
            D_NIL, "-22.22%:0%:12.35%:123.5%"),
        ERR("{{ \"one\" | humanizePercentage }}", D_NIL,
            "template: test:1:11: executing \"test\" at <humanizePercentage>: error calling humanizePercentage: "
            "strconv.ParseFloat: parsing \"one\": invalid syntax"),
        OUT("{{ range .Stamps }}{{ humanizeTimestamp . }}:{{ end }}", D_MAP,
            "1970-01-01 00:00:00 +0000 UTC:1969-12-31 23:59:59 +0000 UTC:1970-01-01 00:00:01 +0000 UTC:"
            "1970-01-15 06:56:07 +0000 UTC:2262-04-11 23:47:16 +0000 UTC:"),
        ERR("{{ range .BadStamps }}{{ humanizeTimestamp . }}:{{ end }}", D_MAP,
            "template: test:1:25: executing \"test\" at <humanizeTimestamp .>: error calling humanizeTimestamp: "
            "-9.223372036854776e+18 cannot be represented as a nanoseconds timestamp since it overflows int64"),
        ERR("{{ range .BadUStamps }}{{ humanizeTimestamp . }}:{{ end }}", D_MAP,
            "template: test:1:26: executing \"test\" at <humanizeTimestamp .>: error calling humanizeTimestamp: "
            "1.8446744073709552e+19 cannot be represented as a nanoseconds timestamp since it overflows int64"),
        OUT("{{ 1435065584.128 | humanizeTimestamp }}", D_NIL, "2015-06-23 13:19:44.128 +0000 UTC"),
        OUT("{{ \"1435065584.128\" | humanizeTimestamp }}", D_NIL, "2015-06-23 13:19:44.128 +0000 UTC"),
        OUT("{{ (1435065584.128 | toTime).Format \"2006\" }}", D_NIL, "2015"),
        OUT("{{ (\"1435065584.128\" | toTime).Format \"2006\" }}", D_NIL, "2015"),
        OUT("{{ \"aa bb CC\" | title }}", D_NIL, "Aa Bb CC"),
        OUT("{{ \"aa bb CC\" | toUpper }}", D_NIL, "AA BB CC"),
        OUT("{{ \"aA bB CC\" | toLower }}", D_NIL, "aa bb cc"),
        OUT("{{ match \"a+\" \"aa\" }} {{ match \"a+\" \"b\" }}", D_NIL, "true false"),
        OUT("{{ graphLink \"up\" }}", D_NIL, "/graph?g0.expr=up&g0.tab=0"),
        OUT("{{ tableLink \"up\" }}", D_NIL, "/graph?g0.expr=up&g0.tab=1"),
        OUT("{{ pathPrefix }}", D_NIL, "/path/prefix"),
        OUT("{{ externalURL }}", D_NIL, "http://testhost:9090/path/prefix"),
        OUT("{{ printf \"%0.2f\" (parseDuration \"1h2m10ms\") }}", D_NIL, "3720.01"),
        OUT("{{ \"foo.example.com\" | stripDomain }}", D_NIL, "foo"),
        OUT("{{ \"foo.example.com:12345\" | stripDomain }}", D_NIL, "foo:12345"),
        OUT("{{ \"192.0.2.1\" | stripDomain }}", D_NIL, "192.0.2.1"),
        OUT("{{ \"192.0.2.1:12345\" | stripDomain }}", D_NIL, "192.0.2.1:12345"),
        OUT("{{ \"2001:0DB8::1\" | stripDomain }}", D_NIL, "2001:0DB8::1"),
        OUT("{{ \"[2001:0DB8::1]:12345\" | stripDomain }}", D_NIL, "[2001:0DB8::1]:12345"),
        OUT("{{ \"[2001:0DB8::1]::12345\" | stripDomain }}", D_NIL, "[2001:0DB8::1]::12345"),
    };
    run_cases(cases, NELEMS(cases));
}

/* More of Prometheus's functions: edge values and errors. */
static void test_prometheus_functions(void **state) {
    (void)state;
    static const tcase cases[] = {
        OUT("{{ humanize 0.001 }} {{ humanize -1234567 }} {{ humanize 1e-30 }} {{ humanize 999.99 }} "
            "{{ humanize 1e27 }}",
            D_NIL, "1m -1.235M 1e-06y 1000 1000Y"),
        OUT("{{ humanize 1 }} {{ humanize -0.5 }} {{ humanize .Int }} {{ humanize \"1e3\" }}", D_MAP,
            "1 -500m 42 1k"),
        ERR("{{ humanize true }}", D_NIL,
            "template: test:1:3: executing \"test\" at <humanize true>: error calling humanize: can't convert bool "
            "to float"),
        ERR("{{ humanize .Nil }}", D_MAP,
            "template: test:1:3: executing \"test\" at <humanize .Nil>: error calling humanize: can't convert <nil> "
            "to float"),
        ERR("{{ humanize \"1e999\" }}", D_NIL,
            "template: test:1:3: executing \"test\" at <humanize \"1e999\">: error calling humanize: "
            "strconv.ParseFloat: parsing \"1e999\": value out of range"),
        ERR("{{ humanize }}", D_NIL,
            "template: test:1:3: executing \"test\" at <humanize>: wrong number of args for humanize: want 1 got 0"),
        ERR("{{ humanize 1 2 }}", D_NIL,
            "template: test:1:3: executing \"test\" at <humanize>: wrong number of args for humanize: want 1 got 2"),
        OUT("{{ humanize1024 1023 }} {{ humanize1024 1024 }} {{ humanize1024 -2048 }} {{ humanize1024 0.5 }}", D_NIL,
            "1023 1ki -2ki 0.5"),
        OUT("{{ humanizeDuration 0.5 }} {{ humanizeDuration 90061 }} {{ humanizeDuration -0.25 }} "
            "{{ humanizeDuration 59.9999 }} {{ humanizeDuration 3600.5 }}",
            D_NIL, "500ms 1d 1h 1m 1s -250ms 60s 1h 0m 0s"),
        OUT("{{ humanizePercentage 0.1234 }} {{ humanizePercentage 1 }} {{ humanizePercentage 0.000001 }}", D_NIL,
            "12.34% 100% 0.0001%"),
        OUT("{{ humanizeTimestamp 1657155181 }} {{ humanizeTimestamp -1.5 }} {{ humanizeTimestamp 0.0001 }}", D_NIL,
            "2022-07-07 00:53:01 +0000 UTC 1969-12-31 23:59:58.5 +0000 UTC 1970-01-01 00:00:00 +0000 UTC"),
        OUT("{{ toTime 0 }}|{{ (toTime 1657155181.25).Unix }}|{{ (toTime 1657155181.25).UnixMilli }}", D_NIL,
            "1970-01-01 00:00:00 +0000 UTC|1657155181|1657155181249"),
        OUT("{{ parseDuration \"90s\" }} {{ parseDuration \"0\" }} {{ parseDuration \"1y\" }} "
            "{{ parseDuration \"1d12h\" }}",
            D_NIL, "90 0 3.1536e+07 129600"),
        ERR("{{ parseDuration \"1x\" }}", D_NIL,
            "template: test:1:3: executing \"test\" at <parseDuration \"1x\">: error calling parseDuration: not a "
            "valid duration string: \"1x\""),
        ERR("{{ parseDuration \"\" }}", D_NIL,
            "template: test:1:3: executing \"test\" at <parseDuration \"\">: error calling parseDuration: empty "
            "duration string"),
        OUT("{{ with query \"up\" }}{{ len . }} {{ (index . 1).Labels.instance }} {{ . | first | value | humanize }}"
            "{{ end }}",
            D_NIL, "2 a 21"),
        OUT("{{ range $i, $s := query \"up\" }}{{ $i }}={{ label \"instance\" $s }} {{ end }}", D_NIL, "0=b 1=a "),
        OUT("{{ with query \"missing\" }}some{{ else }}none{{ end }}", D_NIL, "none"),
        OUT("{{ query \"up\" | first }}", D_NIL, "&{map[__name__:metric instance:b] 21}"),
        ERR("{{ query \"error\" }}", D_NIL,
            "template: test:1:3: executing \"test\" at <query \"error\">: error calling query: bad query"),
        ERR("{{ first 1 }}", D_NIL,
            "template: test:1:9: executing \"test\" at <1>: can't handle 1 for arg of type template.queryResult"),
        ERR("{{ .Str | first }}", D_MAP,
            "template: test:1:10: executing \"test\" at <first>: wrong type for value; expected "
            "template.queryResult; got string"),
        ERR("{{ value .Nil }}", D_MAP,
            "template: test:1:3: executing \"test\" at <value .Nil>: error calling value: runtime error: invalid "
            "memory address or nil pointer dereference"),
        OUT("{{ sortByLabel \"__name__\" (query \"up\") | len }}", D_NIL, "2"),
        OUT("{{ reReplaceAll \"^(.*):\\\\d+$\" \"$1\" \"host:9100\" }}|{{ reReplaceAll \"a*\" \"-\" \"baaac\" }}|"
            "{{ reReplaceAll \"(?P<first>\\\\w+) (?P<second>\\\\w+)\" \"${second} $first $$ $3 ${1}x $1x\" "
            "\"hello world\" }}",
            D_NIL, "host|-b-c-|world hello $  hellox "),
        ERR("{{ reReplaceAll \"(\" \"\" \"x\" }}", D_NIL,
            "template: test:1:3: executing \"test\" at <reReplaceAll \"(\" \"\" \"x\">: error calling reReplaceAll: "
            "regexp: Compile(`(`): error parsing regexp: missing closing ): `(`"),
        ERR("{{ match \"(\" \"x\" }}", D_NIL,
            "template: test:1:3: executing \"test\" at <match \"(\" \"x\">: error calling match: error parsing "
            "regexp: missing closing ): `(`"),
        OUT("{{ match \"^a.c$\" \"abc\" }} {{ match \"b\" \"abc\" }} {{ match \"(?i)ABC\" \"abc\" }}", D_NIL,
            "true true true"),
        OUT("{{ \"hello wORLD_x-y é\" | title }} {{ \"straße é\" | toUpper }} {{ \"ÀÉ\" | toLower }}", D_NIL,
            "Hello WORLD_x-Y É STRAßE É àé"),
        ERR("{{ toUpper 1 }}", D_NIL,
            "template: test:1:11: executing \"test\" at <1>: expected string; found 1"),
        ERR("{{ .Int | toUpper }}", D_MAP,
            "template: test:1:10: executing \"test\" at <toUpper>: wrong type for value; expected string; got int"),
        OUT("{{ graphLink \"rate(x[5m]) > 0\" }}", D_NIL, "/graph?g0.expr=rate%28x%5B5m%5D%29+%3E+0&g0.tab=0"),
        OUT("{{ \"a.b.c\" | stripDomain }} {{ \"localhost:80\" | stripDomain }} {{ \"\" | stripPort }}|", D_NIL,
            "a localhost:80 |"),
        OUT("{{ with args 1 \"x\" 2.5 }}{{ .arg0 }} {{ .arg1 }} {{ .arg2 }} {{ .arg3 }} {{ len . }}{{ end }}", D_NIL,
            "1 x 2.5 <no value> 3"),
        OUT("{{ \"<b>\" | safeHtml }} {{ html \"<b>\" }}", D_NIL, "<b> &lt;b&gt;"),
    };
    run_cases(cases, NELEMS(cases));
}

/* The alert expansion of Prometheus's rules: the prefix defines $labels,
 * $externalLabels, $externalURL and $value; positions count the prefix. */
static void test_alert_prefix(void **state) {
    (void)state;
    static const tcase cases[] = {
        {"{{ $labels.instance }} is down", D_ALERT, "host1:9100 is down", NULL, 1, 0, 0},
        {"{{ $labels.job }}/{{ $labels.missing }}/{{ index $labels \"alertname\" }}", D_ALERT, "node//HighLoad", NULL,
         1, 0, 0},
        {"{{ $value }} {{ $value | humanizePercentage }} {{ printf \"%.2f\" $value }}", D_ALERT,
         "0.8512 85.12% 0.85", NULL, 1, 0, 0},
        {"{{ $externalLabels.cluster }} {{ $externalURL }} {{ .ExternalURL }}", D_ALERT,
         "eu1 http://prom:9090 http://prom:9090", NULL, 1, 0, 0},
        {"{{ range $k, $v := $labels }}{{ $k }}={{ $v }},{{ end }}", D_ALERT,
         "alertname=HighLoad,instance=host1:9100,job=node,", NULL, 1, 0, 0},
        {"{{ if gt $value 0.8 }}high{{ else }}low{{ end }}", D_ALERT, "high", NULL, 1, 0, 0},
        {"{{ $labels.instance | stripPort }} {{ len $labels }}", D_ALERT, "host1 3", NULL, 1, 0, 0},
        {"{{ . }}", D_ALERT, "{map[alertname:HighLoad instance:host1:9100 job:node] map[cluster:eu1 replica:a] "
                             "http://prom:9090 0.8512}", NULL, 1, 0, 0},
        {"{{ humanize \"x\" }}", D_ALERT, NULL,
         "template: test:1:115: executing \"test\" at <humanize \"x\">: error calling humanize: strconv.ParseFloat: "
         "parsing \"x\": invalid syntax", 1, 0, 0},
        {"{{ .Foo }}", D_ALERT, NULL,
         "template: test:1:115: executing \"test\" at <.Foo>: can't evaluate field Foo in type struct { Labels "
         "map[string]string; ExternalLabels map[string]string; ExternalURL string; Value float64 }", 1, 0, 0},
        {"{{ $labels.missing }}", D_ALERT, "<no value>", NULL, 1, TMPL_MISSING_DEFAULT, 0},
        {"{{ $labels.missing }}", D_ALERT, NULL,
         "template: test:1:122: executing \"test\" at <$labels.missing>: map has no entry for key \"missing\"", 1,
         TMPL_MISSING_ERROR, 0},
        {"{{ $nope }}", D_ALERT, NULL, "template: test:1: undefined variable \"$nope\"", 1, 0, 0},
        {"line one\n{{ $labels.job }} {{ humanize \"x\" }}", D_ALERT, NULL,
         "template: test:2:21: executing \"test\" at <humanize \"x\">: error calling humanize: strconv.ParseFloat: "
         "parsing \"x\": invalid syntax", 1, 0, 0},
    };
    run_cases(cases, NELEMS(cases));
}

/* ------------------------------------------------------------ the language */

static void test_control_structures(void **state) {
    (void)state;
    static const tcase cases[] = {
        OUT("{{if 1}}NON-ZERO{{else}}ZERO{{end}}", D_NIL, "NON-ZERO"),
        OUT("{{if 0}}NON-ZERO{{else}}ZERO{{end}}", D_NIL, "ZERO"),
        OUT("{{if .EmptyStr}}x{{else}}empty{{end}} {{if .Empty}}x{{else}}empty{{end}} {{if .Nil}}x{{else}}nil{{end}} "
            "{{if .Str}}str{{end}} {{if .Map}}map{{end}} {{if 0.0}}x{{else}}zero{{end}} {{if .False}}x{{else}}f{{end}}",
            D_MAP, "empty empty nil str map zero f"),
        OUT("{{if eq .Int 1}}one{{else if eq .Int 42}}answer{{else}}other{{end}}", D_MAP, "answer"),
        OUT("{{if false}}a{{else if false}}b{{else if true}}c{{else}}d{{end}}", D_NIL, "c"),
        OUT("{{if $x := .Int}}{{$x}}{{else}}{{$x}}none{{end}}", D_MAP, "42"),
        OUT("{{range .List}}<{{.}}>{{end}}", D_MAP, "<1><two><3.5>"),
        OUT("{{range $i, $e := .List}}{{$i}}:{{$e}} {{end}}", D_MAP, "0:1 1:two 2:3.5 "),
        OUT("{{range $e := .List}}{{$e}}{{end}}", D_MAP, "1two3.5"),
        OUT("{{range $k, $v := .Map}}{{$k}}={{$v}};{{end}}", D_MAP, "a=1;b=2;"),
        OUT("{{range .Map}}{{.}}{{end}}", D_MAP, "12"),
        OUT("{{range .Empty}}x{{else}}EMPTY{{end}}", D_MAP, "EMPTY"),
        OUT("{{range .Nil}}x{{else}}NIL{{end}}", D_MAP, "NIL"),
        OUT("{{range .Strs}}{{if eq . \"1234567.0\"}}{{break}}{{end}}{{.}},{{end}}", D_MAP, "0.0,1.0,"),
        OUT("{{range .Strs}}{{if eq . \"1.0\"}}{{continue}}{{end}}{{.}},{{end}}", D_MAP, "0.0,1234567.0,.12,"),
        ERR("{{range .List}}{{if eq . \"two\"}}{{break}}{{end}}{{end}}", D_MAP,
            "template: test:1:20: executing \"test\" at <eq . \"two\">: error calling eq: incompatible types for "
            "comparison"),
        OUT("{{range $i, $e := .List}}{{range $.List}}{{if eq $i 1}}{{break}}{{end}}{{$i}}{{end}}{{end}}", D_MAP,
            "000222"),
        ERR("{{range .Int}}x{{end}}", D_MAP, "template: test:1:8: executing \"test\" at <.Int>: range can't iterate over 42"),
        ERR("{{range .Str}}x{{end}}", D_MAP,
            "template: test:1:8: executing \"test\" at <.Str>: range can't iterate over hello"),
        OUT("{{with .Str}}{{.}}{{end}} {{with .EmptyStr}}x{{else}}none{{end}} {{with $x := .Int}}{{$x}}{{.}}{{end}}",
            D_MAP, "hello none 4242"),
        OUT("{{with .Map}}{{.a}}{{end}}", D_MAP, "1"),
        OUT("{{define \"T1\"}}ONE{{end}}{{define \"T2\"}}TWO {{template \"T1\"}}{{end}}{{template \"T2\"}}", D_NIL,
            "TWO ONE"),
        OUT("{{define \"show\"}}[{{.}}|{{$}}]{{end}}{{template \"show\" .Int}}{{template \"show\"}}", D_MAP,
            "[42|42][<no value>|<no value>]"),
        OUT("{{block \"b\" .Str}}<{{.}}>{{end}}", D_MAP, "<hello>"),
        OUT("{{define \"empty\"}}{{end}}{{template \"empty\" .}}x", D_NIL, "x"),
        OUT("{{define \"test\"}}defined{{end}}", D_NIL, "defined"),
        OUT("{{define \"rec\"}}{{if gt . 0}}{{.}}{{template \"rec\" (len (slice $.List 1))}}{{end}}{{end}}x", D_MAP,
            "x"),
        ERR("{{template \"nope\"}}", D_NIL,
            "template: test:1:11: executing \"test\" at <{{template \"nope\"}}>: template \"nope\" not defined"),
        ERR("{{define \"r\"}}{{template \"r\" .}}{{end}}{{template \"r\" .}}", D_NIL,
            "template: test:1:25: executing \"r\" at <{{template \"r\" .}}>: exceeded maximum template depth (100)"),
        ERR("{{define \"d\"}}\n{{humanize \"x\"}}{{end}}{{template \"d\"}}", D_NIL,
            "template: test:2:2: executing \"d\" at <humanize \"x\">: error calling humanize: strconv.ParseFloat: "
            "parsing \"x\": invalid syntax"),
    };
    run_cases(cases, NELEMS(cases));
}

static void test_variables_and_fields(void **state) {
    (void)state;
    static const tcase cases[] = {
        OUT("{{with .Map}}{{$.Int}} {{.}} {{$.Map.a}} {{$.List}}{{end}}", D_MAP, "42 map[a:1 b:2] 1 [1 two 3.5]"),
        OUT("{{ .Floats }} {{ .Uints }} {{ .Special }} {{ .BadStamps }} {{ .EmptyStr }}|{{ .Empty }} {{ .Nil }}", D_MAP,
            "[0 1 1.234567e+06 0.12] [0 1 1.234567e+06 1.8446744073709552e+19] [+Inf -Inf NaN] "
            "[-9223372036854775808 9223372036854775807] |[] <no value>"),
        OUT("{{$x := .Int}}{{$x}} {{$y := $x}}{{$y}}", D_MAP, "42 42"),
        OUT("{{$x := 2}}{{$x = 3}}{{$x}}", D_NIL, "3"),
        OUT("{{$x := 2}}{{if true}}{{$x = 3}}{{end}}{{$x}}", D_NIL, "3"),
        OUT("{{$x := 1}}{{if true}}{{$x := 2}}{{if true}}{{$x = 3}}{{end}}{{end}}{{$x}}", D_NIL, "1"),
        OUT("{{with $x := .Map}}{{$x.a}}{{end}} {{$.Map.b}} {{.Labels.job}} {{$l := .Labels}}{{$l.instance}}", D_MAP,
            "1 2 node host1:9100"),
        OUT("{{ .Map.nope }}|{{ .Labels.nope }}|{{ .Nil.deeper }}", D_MAP, "<no value>||<no value>"),
        OUT("{{ (index .List 1) }} {{ (.Map).a }} {{ (args .Map).arg0.b }}", D_MAP, "two 1 2"),
        ERR("{{ .Int.Foo }}", D_MAP, "template: test:1:7: executing \"test\" at <.Int.Foo>: can't evaluate field Foo "
                                     "in type int"),
        ERR("{{ .Map.a 1 }}", D_MAP, "template: test:1:7: executing \"test\" at <.Map.a>: a is not a method but has "
                                     "arguments"),
        ERR("{{ $x := 1 }}{{ $x 2 }}", D_NIL, "template: test:1:16: executing \"test\" at <$x>: can't give argument "
                                              "to non-function $x"),
        ERR("{{ $y = 2 }}", D_NIL, "template: test:1:8: executing \"test\" at <2>: undefined variable: $y"),
        ERR("{{ (nil).Foo }}", D_NIL, "template: test:1:4: executing \"test\" at <nil>: nil is not a command"),
        ERR("{{ nil.Foo }}", D_NIL, "template: test:1: unexpected . after term \"nil\""),
        ERR("{{ nil }}", D_NIL, "template: test:1:3: executing \"test\" at <nil>: nil is not a command"),
        ERR("{{ \"a\" \"b\" }}", D_NIL,
            "template: test:1:3: executing \"test\" at <\"a\">: can't give argument to non-function \"a\""),
        OUT("{{ 'a' }} {{ printf \"%c\" 'a' }} {{ '\\n' }} {{ '\\u00e9' }}", D_NIL, "97 a 10 233"),
        OUT("{{ 0x1F }} {{ 1e3 }} {{ 0b101 }} {{ 0o17 }} {{ 017 }} {{ 1_000 }} {{ -0.0 }} {{ .5 }} {{ 1.0 }} "
            "{{ -7 }} {{ 0x1p4 }}",
            D_NIL, "31 1000 5 15 15 1000 -0 0.5 1 -7 16"),
        OUT("{{ \"\\x41\\101\\u00e9\\t|\" }}{{ `raw\\n` }}{{ \"\\\"q\\\"\" }}", D_NIL, "AAé\t|raw\\n\"q\""),
        OUT("{{ true }} {{ false }} {{ . }}", D_NIL, "true false <no value>"),
        OUT("{{ .Time }} | {{ .ZeroTime.IsZero }} {{ .Time.IsZero }} {{ .Time.Unix }} {{ .Time.UnixMilli }}", D_MAP,
            "2015-06-23 13:19:44.128 +0000 UTC | true false 1435065584 1435065584128"),
        OUT("{{ .Time.Format \"Mon Jan _2 15:04:05 2006\" }}|{{ .Time.Format \"2006-01-02T15:04:05.000Z07:00\" }}|"
            "{{ .Time.Format \"3:04PM 06 002 __2 -0700 MST .999 ,00 January Monday\" }}",
            D_MAP,
            "Tue Jun 23 13:19:44 2015|2015-06-23T13:19:44.128Z|1:19PM 15 174 174 +0000 UTC .128 ,12 June Tuesday"),
        ERR("{{ .Time.Format }}", D_MAP,
            "template: test:1:8: executing \"test\" at <.Time.Format>: wrong number of args for Format: want 1 got 0"),
    };
    run_cases(cases, NELEMS(cases));
}

/* Go's "{{- " and " -}}" trimming and comments. */
static void test_whitespace_and_comments(void **state) {
    (void)state;
    static const tcase cases[] = {
        OUT("x \r\n\t{{- 3}}", D_NIL, "x3"),
        OUT("{{3 -}}\n\n\ty", D_NIL, "3y"),
        OUT("x \r\n\t{{- 3 -}}\n\n\ty", D_NIL, "x3y"),
        OUT("  a  {{- 1 -}}  b  ", D_NIL, "  a1b  "),
        OUT("{{-3}}", D_NIL, "-3"),
        OUT("{{- 3}}{{3 -}}", D_NIL, "33"),
        OUT("x{{/* comment */}}y", D_NIL, "xy"),
        OUT("x \n{{- /* comment */ -}}\n y", D_NIL, "xy"),
        OUT("{{/* multi\nline */}}z", D_NIL, "z"),
        OUT("a\n{{- if true }}\n  b\n{{- end }}\nc", D_NIL, "a\n  b\nc"),
        OUT("{{ range .List -}}\n  {{ . }}\n{{- end }}", D_MAP, "1two3.5"),
        OUT("{{ 1\n  }}{{\n2 }}", D_NIL, "12"),
        ERR("{{/* x */ 1}}", D_NIL, "template: test:1: comment ends before closing delimiter"),
        ERR("{{/* x", D_NIL, "template: test:1: unclosed comment"),
        ERR("{{3-}}", D_NIL, "template: test:1: bad number syntax: \"3-\""),
    };
    run_cases(cases, NELEMS(cases));
}

/* Parse errors as Go words them. */
static void test_parse_errors(void **state) {
    (void)state;
    static const tcase cases[] = {
        ERR("{{ foo }}", D_NIL, "template: test:1: function \"foo\" not defined"),
        ERR("{{ .A }", D_NIL, "template: test:1: unexpected \"}\" in operand"),
        ERR("{{end}}", D_NIL, "template: test:1: unexpected {{end}}"),
        ERR("{{else}}", D_NIL, "template: test:1: unexpected {{else}}"),
        ERR("{{if 1}}", D_NIL, "template: test:1: unexpected EOF"),
        ERR("x\n{{if 1}}\ny\n", D_NIL, "template: test:4: unexpected EOF"),
        ERR("{{ 1\n\n 2 ", D_NIL, "template: test:3: unclosed action started at test:1"),
        ERR("{{ \"a\n\" }}", D_NIL, "template: test:1: unterminated quoted string"),
        ERR("{{ `a }}", D_NIL, "template: test:1: unterminated raw quoted string"),
        ERR("{{ 'a }}", D_NIL, "template: test:1: unterminated character constant"),
        ERR("{{ 'ab' }}", D_NIL, "template: test:1: malformed character constant: 'ab'"),
        ERR("{{$x}}", D_NIL, "template: test:1: undefined variable \"$x\""),
        ERR("{{if 1}}{{$x := 1}}{{end}}{{$x}}", D_NIL, "template: test:1: undefined variable \"$x\""),
        ERR("{{ 1 | 2 }}", D_NIL, "template: test:1: non executable command in pipeline stage 2"),
        ERR("{{ ( 1 }}", D_NIL, "template: test:1: unclosed left paren"),
        ERR("{{ 1 ) }}", D_NIL, "template: test:1: unexpected right paren U+0029 ')'"),
        ERR("{{ 3x }}", D_NIL, "template: test:1: bad number syntax: \"3x\""),
        ERR("{{ .A.1 }}", D_NIL, "template: test:1: unexpected \".1\" in operand"),
        ERR("{{ \"\\q\" }}", D_NIL, "template: test:1: invalid syntax"),
        ERR("{{ range $a, $b, $c := . }}{{end}}", D_NIL, "template: test:1: too many declarations in range"),
        ERR("{{ range $a, 1 }}{{end}}", D_NIL, "template: test:1: range can only initialize variables"),
        ERR("{{ with $a, $b := . }}{{end}}", D_NIL, "template: test:1: too many declarations in with"),
        ERR("{{break}}", D_NIL, "template: test:1: {{break}} outside {{range}}"),
        ERR("{{range .}}{{else}}{{continue}}{{end}}", D_NIL, "template: test:1: {{continue}} outside {{range}}"),
        ERR("{{range .}}{{break 1}}{{end}}", D_NIL, "template: test:1: unexpected \"1\" in {{break}}"),
        ERR("{{template x}}", D_NIL, "template: test:1: unexpected \"x\" in template clause"),
        ERR("{{define \"a\"}}1{{end}}{{define \"a\"}}2{{end}}", D_NIL,
            "template: test:1: template: multiple definition of template \"a\""),
        ERR("{{define \"a\"}}1{{else}}2{{end}}", D_NIL, "template: test:1: unexpected {{else}} in define clause"),
        ERR("{{define a}}{{end}}", D_NIL, "template: test:1: unexpected \"a\" in define clause"),
        ERR("{{if 1}}{{define \"a\"}}{{end}}{{end}}", D_NIL, "template: test:1: unexpected <define> in command"),
        ERR("{{range .}}a{{else}}b{{else}}c{{end}}", D_NIL, "template: test:1: expected end; found {{else}}"),
        ERR("{{ 99999999999999999999 }}", D_NIL, "template: test:1: integer overflow: \"99999999999999999999\""),
        ERR("{{ 1i }}", D_NIL, "template: test:1: illegal number syntax: \"1i\""),
        ERR("{{ \"x\".y }}", D_NIL, "template: test:1: unexpected . after term \"\\\"x\\\"\""),
        ERR("{{ if }}{{end}}", D_NIL, "template: test:1: missing value for if"),
        ERR("{{ }}", D_NIL, "template: test:1: missing value for command"),
        ERR("{{ = }}", D_NIL, "template: test:1: unexpected \"=\" in command"),
        ERR("{{ : }}", D_NIL, "template: test:1: expected :="),
        ERR("{{ # }}", D_NIL, "template: test:1: unexpected \"#\" in command"),
        ERR("{{ a\x01 }}", D_NIL, "template: test:1: bad character U+0001"),
        ERR("{{ \"averyverylongstring\" \"x\" ) }}", D_NIL, "template: test:1: unexpected right paren U+0029 ')'"),
        ERR("{{ 1 .A }}x{{ end }}", D_NIL, "template: test:1: unexpected {{end}}"),
        ERR("{{ (1 }}", D_NIL, "template: test:1: unclosed left paren"),
        ERR("{{ else with 1 }}", D_NIL, "template: test:1: unexpected <with> in else"),
        ERR("{{ printf \"%d\" 1 | \"averyverylongstring\" }}", D_NIL,
            "template: test:1: non executable command in pipeline stage 2"),
        ERR("{{ len (. }}", D_NIL, "template: test:1: unclosed left paren"),
        {"{{ humanize 1 }}", D_NIL, NULL, "template: test:1: function \"humanize\" not defined", 0, 0, AM},
        {"{{ join \",\" . }}", D_NIL, NULL, "template: test:1: function \"join\" not defined", 0, 0, PROM},
    };
    run_cases(cases, NELEMS(cases));
}

/* ------------------------------------------------------------ Go's functions */

static void test_builtins(void **state) {
    (void)state;
    static const tcase cases[] = {
        OUT("{{ and 1 0 2 }} {{ and 1 2 }} {{ or 0 \"\" \"x\" }} {{ or 0 \"\" }}| {{ not 0 }} {{ not .Str }}", D_MAP,
            "0 2 x | true false"),
        OUT("{{ and .Nil .Nope.Deeper }} {{ or .Str (index .Nil 1) }} {{ true | and 1 }}", D_MAP,
            "<no value> hello true"),
        ERR("{{ and }}", D_NIL,
            "template: test:1:3: executing \"test\" at <and>: wrong number of args for and: want at least 1 got 0"),
        OUT("{{ len \"abc\" }} {{ len .List }} {{ len .Map }} {{ len .Labels }} {{ len .Empty }}", D_MAP, "3 3 2 3 0"),
        ERR("{{ len 3 }}", D_NIL, "template: test:1:3: executing \"test\" at <len 3>: error calling len: len of type int"),
        ERR("{{ len .Nil }}", D_MAP,
            "template: test:1:3: executing \"test\" at <len .Nil>: error calling len: len of nil pointer"),
        OUT("{{ index .List 1 }} {{ index .Map \"b\" }} {{ index .Map \"zz\" }} {{ index .Labels \"job\" }} "
            "{{ index .Labels \"zz\" }}| {{ index \"abc\" 1 }} {{ index .List }}",
            D_MAP, "two 2 <no value> node | 98 [1 two 3.5]"),
        ERR("{{ index .List 5 }}", D_MAP,
            "template: test:1:3: executing \"test\" at <index .List 5>: error calling index: index out of range: 5"),
        ERR("{{ index .List 3 }}", D_MAP,
            "template: test:1:3: executing \"test\" at <index .List 3>: error calling index: reflect: slice index out "
            "of range"),
        ERR("{{ index .List \"x\" }}", D_MAP,
            "template: test:1:3: executing \"test\" at <index .List \"x\">: error calling index: cannot index "
            "slice/array with type string"),
        ERR("{{ index .Map 1 }}", D_MAP,
            "template: test:1:3: executing \"test\" at <index .Map 1>: error calling index: value has type int; "
            "should be string"),
        ERR("{{ index .Nil 1 }}", D_MAP,
            "template: test:1:3: executing \"test\" at <index .Nil 1>: error calling index: index of untyped nil"),
        ERR("{{ index 3 1 }}", D_NIL,
            "template: test:1:3: executing \"test\" at <index 3 1>: error calling index: can't index item of type int"),
        OUT("{{ slice \"abcdef\" 1 3 }} {{ slice \"abc\" 1 }} {{ slice .List 1 }} {{ slice .List 0 1 }} {{ slice .List }}",
            D_MAP, "bc bc [two 3.5] [1] [1 two 3.5]"),
        ERR("{{ slice .List 2 1 }}", D_MAP,
            "template: test:1:3: executing \"test\" at <slice .List 2 1>: error calling slice: invalid slice index: "
            "2 > 1"),
        ERR("{{ slice \"abc\" 1 2 3 }}", D_NIL,
            "template: test:1:3: executing \"test\" at <slice \"abc\" 1 2 3>: error calling slice: cannot 3-index "
            "slice a string"),
        OUT("{{ eq 1 1 }} {{ eq 1 2 }} {{ eq 1 2 3 1 }} {{ eq \"a\" \"b\" \"a\" }} {{ eq 1.5 1.5 }} {{ eq true true }} "
            "{{ eq .Nil .Nil }} {{ eq .Str .Nil }} {{ eq .ZeroTime .ZeroTime }}",
            D_MAP, "true false true true true true true false true"),
        OUT("{{ ne 1 2 }} {{ ne \"a\" \"a\" }} {{ lt 1 2 }} {{ lt 1.5 0.5 }} {{ lt \"a\" \"b\" }} {{ le 2 2 }} "
            "{{ le 3 2 }} {{ gt 3 2 }} {{ gt \"a\" \"b\" }} {{ ge 2 2 }} {{ ge 1 2 }}",
            D_NIL, "true false true false true true false true false true false"),
        ERR("{{ eq .Float 1 }}", D_MAP,
            "template: test:1:3: executing \"test\" at <eq .Float 1>: error calling eq: incompatible types for "
            "comparison"),
        ERR("{{ eq 1 }}", D_NIL,
            "template: test:1:3: executing \"test\" at <eq 1>: error calling eq: missing argument for comparison"),
        ERR("{{ lt true false }}", D_NIL,
            "template: test:1:3: executing \"test\" at <lt true false>: error calling lt: invalid type for "
            "comparison"),
        ERR("{{ lt .List 1 }}", D_MAP,
            "template: test:1:3: executing \"test\" at <lt .List 1>: error calling lt: invalid type for comparison"),
        ERR("{{ eq .List .List }}", D_MAP,
            "template: test:1:3: executing \"test\" at <eq .List .List>: error calling eq: non-comparable type "
            "[1 two 3.5]: []interface {}"),
        OUT("{{ print 1 2 \"a\" \"b\" 3 }}|{{ print }}|{{ print .Nil }}|{{ println 1 \"x\" }}|{{ print .List .Map }}",
            D_MAP, "1 2ab3||<nil>|1 x\n|[1 two 3.5] map[a:1 b:2]"),
        OUT("{{ html \"<a href=\\\"x\\\">&'</a>\" }} {{ html 1 \"<\" }} {{ html .Nil }}", D_MAP,
            "&lt;a href=&#34;x&#34;&gt;&amp;&#39;&lt;/a&gt; 1&lt; &lt;no value&gt;"),
        OUT("{{ js \"it's <b>\\n=&\\\"\\\\\" }} {{ js \"é\" }}", D_NIL,
            "it\\'s \\u003Cb\\u003E\\u000A\\u003D\\u0026\\\"\\\\ é"),
        OUT("{{ urlquery \"a b&c=d/é~\" }} {{ \"x y\" | urlquery }}", D_NIL, "a+b%26c%3Dd%2F%C3%A9~ x+y"),
    };
    run_cases(cases, NELEMS(cases));
}

/* fmt's verbs, flags, widths and mistakes. */
static void test_printf(void **state) {
    (void)state;
    static const tcase cases[] = {
        OUT("{{ printf \"%s %d %5.2f|%-5s|%x %X %q %v %%\" \"a\" 42 3.14159 \"ab\" 255 \"hi\" \"q\" 1e6 }}", D_NIL,
            "a 42  3.14|ab   |ff 6869 \"q\" 1e+06 %"),
        OUT("{{ printf \"%08.3f|%+d|% d|%x|%#x|%o|%#o|%b|%U|%#U|%c|%q|%O\" -3.14159 5 5 -255 255 8 8 5 65 65 9731 9731 8 }}",
            D_NIL, "-003.142|+5| 5|-ff|0xff|10|010|101|U+0041|U+0041 'A'|☃|'☃'|0o10"),
        OUT("{{ printf \"%6.2f|%-10.3e|%g|%G|%.3g|%e|%v|%v|%v|%v\" 3.14159 1234.5678 0.000012345 1e21 1234.5678 0.0 "
            "100000.0 123456789.0 0.1 12345.678 }}",
            D_NIL, "  3.14|1.235e+03 |1.2345e-05|1E+21|1.23e+03|0.000000e+00|100000|1.23456789e+08|0.1|12345.678"),
        OUT("{{ printf \"%5s|%-5s|%.2s|%05d|%x|% x|%#v|%5.1q|%-4d|\" \"ab\" \"ab\" \"abc\" -42 \"hi\" \"hi\" \"q\" "
            "\"abc\" 7 }}",
            D_NIL, "   ab|ab   |ab|-0042|6869|68 69|\"q\"|  \"a\"|7   |"),
        OUT("{{ printf \"%*d|%-*d|%.*f|%*d\" 5 1 5 1 2 3.14159 -3 1 }}", D_NIL, "    1|1    |3.14|1  "),
        OUT("{{ printf \"%[2]d %[1]d|%[3]d\" 1 2 }}", D_NIL, "2 1|%!d(BADINDEX)"),
        OUT("{{ printf \"%d\" 1.5 }} {{ printf \"%s\" 1 }} {{ printf \"%d %d\" 1 }} {{ printf \"%d\" 1 2 }} "
            "{{ printf \"%z\" 3 }} {{ printf \"%\" }} {{ printf \"%!\" }} {{ printf \"%d\" .Nil }} {{ printf \"%t\" true }}",
            D_MAP, "%!d(float64=1.5) %!s(int=1) 1 %!d(MISSING) 1%!(EXTRA int=2) %!z(int=3) %!(NOVERB) %!!(MISSING) "
                   "%!d(<nil>) true"),
        OUT("{{ printf \"%v|%s|%d|%v\" .List .List .List .Nil }}", D_MAP,
            "[1 two 3.5]|[%!s(int=1) two %!s(float64=3.5)]|[1 %!d(string=two) %!d(float64=3.5)]|<nil>"),
        OUT("{{ printf \"%v %+v %s\" .Map (query \"up\" | first) .Labels }}", D_MAP,
            "map[a:1 b:2] &{Labels:map[__name__:metric instance:b] Value:21} map[alertname:HighLoad "
            "instance:host1:9100 job:node]"),
        OUT("{{ printf \"%T %T %T %T %T %T %T\" 1 1.0 \"s\" .Labels .List .Time nil }}", D_MAP,
            "int float64 string map[string]string []interface {} *time.Time <nil>"),
        OUT("{{ printf \"%.0f %.0f %.1f %f %g %e\" 0.5 1.5 0.05 1e20 1e-7 123456.0 }}", D_NIL,
            "0 2 0.1 100000000000000000000.000000 1e-07 1.234560e+05"),
        OUT("{{ printf \"%v %f %5.1f|%-6v|%06v %+v\" .Special.Length 1.0 2.25 1.5 -1.5 3.0 }}", D_NIL,
            "<nil> 1.000000   2.2|1.5   |-001.5 3"),
        OUT("{{ printf \"%f %v %5.1f %+f %08f\" (index .Special 0) (index .Special 2) (index .Special 1) "
            "(index .Special 0) (index .Special 2) }}",
            D_MAP, "+Inf NaN  -Inf +Inf      NaN"),
        OUT("{{ printf \"%x %X %x %b %.3x\" 1.5 1.0 0.0 1.0 1.0 }}", D_NIL,
            "0x1.8p+00 0X1P+00 0x0p+00 4503599627370496p-52 0x1.000p+00"),
        OUT("{{ printf \"%#g|%#.0f|%#e|%#x|%#.3g|%#g\" 1.0 2.0 1.0 0.0 100.0 123456789.0 }}", D_NIL,
            "1.00000|2.|1.000000e+00|0x0.0000p+00|100.|1.23456789e+08"),
        OUT("{{ printf \"%s|%v|%q\" .Time .Time .Str }}", D_MAP,
            "2015-06-23 13:19:44.128 +0000 UTC|2015-06-23 13:19:44.128 +0000 UTC|\"hello\""),
        OUT("{{ printf \"%q %+q %#q %q\" \"é\\n\" \"é\" \"a`b\" \"\\x00\\xff\" }}", D_NIL,
            "\"é\\n\" \"\\u00e9\" \"a`b\" \"\\x00\\xff\""),
        OUT("{{ printf \"%99999999d\" 1 }}|{{ printf \"%.99999999f\" 1.0 }}", D_NIL,
            "%!(NOVERB)%!(EXTRA int=1)|%!(NOVERB)%!(EXTRA float64=1)"),
        OUT("{{ printf \"%*d|%.*d\" 99999999 1 \"x\" 2 }}", D_NIL, "%!(BADWIDTH)1|%!(BADPREC)2"),
        OUT("{{ printf \"%d%%\" 50 }} {{ printf \"no verbs\" }} {{ printf \"%5%\" }}", D_NIL, "50% no verbs %"),
        OUT("{{ printf \"%v\" 12345.678 }} {{ 1e-5 }} {{ 1e21 }} {{ 123456789.0 }} {{ 0.000001 }}", D_NIL,
            "12345.678 1e-05 1e+21 1.23456789e+08 1e-06"),
    };
    run_cases(cases, NELEMS(cases));
}

/* ------------------------------------------------------------ Alertmanager */

static void test_alertmanager(void **state) {
    (void)state;
    static const tcase cases[] = {
        OUT("{{ range .Alerts.Firing }}{{ .Labels.instance }} {{ end }}|{{ range .Alerts.Resolved }}{{ .Labels.instance }}"
            "{{ end }}|{{ len .Alerts }}",
            D_AM, "a:9100 |b:9100|2"),
        OUT("{{ range .CommonLabels.SortedPairs }}{{ .Name }}={{ .Value }} {{ end }}", D_AM,
            "alertname=HighLoad account=ops job=node severity=page "),
        OUT("{{ .CommonLabels.Names }} {{ .CommonLabels.Values }} {{ .CommonLabels.SortedPairs.Names }}", D_AM,
            "[alertname account job severity] [HighLoad ops node page] [alertname account job severity]"),
        OUT("{{ .CommonLabels.SortedPairs }}", D_AM, "[{alertname HighLoad} {account ops} {job node} {severity page}]"),
        OUT("{{ .CommonLabels.Remove (stringSlice \"job\" \"account\") }} {{ len .CommonLabels }}", D_AM,
            "map[alertname:HighLoad severity:page] 4"),
        OUT("{{ join \", \" .CommonLabels.Values }}|{{ stringSlice \"a\" \"b\" | join \"-\" }}|{{ join \",\" (stringSlice) }}|",
            D_AM, "HighLoad, ops, node, page|a-b||"),
        ERR("{{ join \",\" .Alerts }}", D_AM,
            "template: test:1:12: executing \"test\" at <.Alerts>: wrong type for value; expected []string; got "
            "template.Alerts"),
        OUT("[{{ .Status | toUpper }}{{ if eq .Status \"firing\" }}:{{ .Alerts.Firing | len }}{{ end }}] "
            "{{ .GroupLabels.SortedPairs.Values | join \" \" }}",
            D_AM, "[FIRING:1] HighLoad"),
        OUT("{{ range .Alerts }}{{ .StartsAt.Format \"2006-01-02 15:04:05\" }} {{ .EndsAt.IsZero }} {{ end }}", D_AM,
            "2023-11-14 22:13:20 true 2023-11-14 19:26:40 false "),
        OUT("{{ (index .Alerts 0).StartsAt }}|{{ (index .Alerts 0).EndsAt }}", D_AM,
            "2023-11-14 22:13:20.5 +0000 UTC|0001-01-01 00:00:00 +0000 UTC"),
        OUT("{{ .CommonAnnotations.summary }}{{ .CommonAnnotations.nope }}|{{ .ExternalURL }}|{{ .Receiver | title }}",
            D_AM, "Load is high|http://am:9093|Ops-Team"),
        OUT("{{ trimSpace \"  \\t x y \\n\" }}|{{ trimSpace \"\" }}|{{ \"  \" | trimSpace }}|", D_NIL, "x y|||"),
        OUT("{{ reReplaceAll \"-team$\" \"\" .Receiver }} {{ match \"^ops\" .Receiver }} {{ \"<x>\" | safeHtml }}", D_AM,
            "ops true <x>"),
        ERR("{{ .Nope }}", D_AM, "template: test:1:3: executing \"test\" at <.Nope>: can't evaluate field Nope in "
                                 "type *template.Data"),
        ERR("{{ .Alerts.Firing.Firing }}", D_AM,
            "template: test:1:10: executing \"test\" at <.Alerts.Firing.Firing>: can't evaluate field Firing in type "
            "[]interface {}"),
        {"{{ query \"up\" }}", D_AM, NULL, "template: test:1: function \"query\" not defined", 0, 0, AM},
    };
    run_cases(cases, NELEMS(cases));
}

/* Alertmanager's layout: template files define, a configuration string
 * uses them; later definitions win; the entry option runs one by name. */
static void test_defs_and_entry(void **state) {
    (void)state;
    const char *files = "{{ define \"title\" }}[{{ .Status }}] {{ template \"name\" . }}{{ end }}"
                        "{{ define \"name\" }}{{ .GroupLabels.alertname }}{{ end }}";
    tmpl_options fo = {.funcs = AM};
    tmpl *defs = NULL, *cfg = NULL;
    errbuf err;
    assert_int_equal(tmpl_parse("default.tmpl", files, strlen(files), &fo, &defs, &err), 0);
    const char *text = "{{ define \"name\" }}<{{ .Receiver }}>{{ end }}{{ template \"title\" . }}";
    tmpl_options co = {.funcs = AM, .defs = defs};
    assert_int_equal(tmpl_parse("", text, strlen(text), &co, &cfg, &err), 0);
    tmpl_data *d = tmpl_data_new();
    const tmpl_value *dot = fixture(d, D_AM);
    buf out = {0};
    assert_int_equal(tmpl_execute(cfg, dot, NULL, &out, &err), 0);
    assert_int_equal(out.len, strlen("[firing] <ops-team>"));
    assert_memory_equal(out.data, "[firing] <ops-team>", out.len);

    buf_reset(&out);
    tmpl_exec_options eo = {.entry = "title"};
    assert_int_equal(tmpl_execute(defs, dot, &eo, &out, &err), 0);
    assert_int_equal(out.len, strlen("[firing] HighLoad"));
    assert_memory_equal(out.data, "[firing] HighLoad", out.len);

    buf_reset(&out);
    eo.entry = "nope";
    assert_int_equal(tmpl_execute(defs, dot, &eo, &out, &err), -1);
    assert_string_equal(err.msg, "template: no template \"nope\" associated with template \"default.tmpl\"");
    assert_int_equal(out.len, 0);

    /* An error inside a definition names the file it came from. */
    const char *bad = "{{ define \"bad\" }}{{ humanize 1 }}{{ index 1 2 }}{{ end }}";
    tmpl *badt = NULL;
    tmpl_options bo = {.funcs = PROM};
    assert_int_equal(tmpl_parse("bad.tmpl", bad, strlen(bad), &bo, &badt, &err), 0);
    const char *use = "{{ template \"bad\" }}";
    tmpl *uset = NULL;
    tmpl_options uo = {.defs = badt};
    assert_int_equal(tmpl_parse("cfg", use, strlen(use), &uo, &uset, &err), 0);
    assert_int_equal(tmpl_execute(uset, NULL, NULL, &out, &err), -1);
    assert_string_equal(err.msg, "template: bad.tmpl:1:37: executing \"bad\" at <index 1 2>: error calling index: "
                                 "can't index item of type int");
    tmpl_free(uset);
    tmpl_free(badt);
    buf_free(&out);
    tmpl_data_free(d);
    tmpl_free(cfg);
    tmpl_free(defs);
}

/* ------------------------------------------------------------ limits */

static int execute_with(const char *text, const tmpl_exec_options *o, buf *out, errbuf *err) {
    tmpl *t = NULL;
    tmpl_options po = {.funcs = PROM | AM};
    if (tmpl_parse("test", text, strlen(text), &po, &t, err) != 0) return -2;
    tmpl_data *d = tmpl_data_new();
    int rc = tmpl_execute(t, fixture(d, D_MAP), o, out, err);
    tmpl_data_free(d);
    tmpl_free(t);
    return rc;
}

static void test_limits(void **state) {
    (void)state;
    buf out = {0}, text = {0};
    errbuf err;
    buf_append(&out, "keep", 4);

    tmpl_exec_options small_output = {.max_output = 10};
    assert_int_equal(execute_with("0123456789{{ \"x\" }}", &small_output, &out, &err), -1);
    assert_string_equal(err.msg, "template: test:1:13: executing \"test\" at <{{\"x\"}}>: output exceeds the limit "
                                 "of 10 bytes");
    assert_int_equal(out.len, 4);
    assert_int_equal(execute_with("0123456789", &small_output, &out, &err), 0);
    assert_int_equal(out.len, 14);
    out.len = 4;

    /* The default output limit, 1 MiB, stops a template that multiplies. */
    assert_int_equal(execute_with("{{ range .List }}{{ range $.List }}{{ range $.List }}{{ printf \"%100000d\" 1 }}"
                                  "{{ end }}{{ end }}{{ end }}",
                                  NULL, &out, &err),
                     -1);
    assert_true(strstr(err.msg, "output exceeds the limit of 1048576 bytes") != NULL);
    assert_int_equal(out.len, 4);

    tmpl_exec_options few_steps = {.max_steps = 50};
    assert_int_equal(execute_with("{{ range .List }}{{ range $.List }}{{ range $.List }}{{ . }}{{ end }}{{ end }}"
                                  "{{ end }}",
                                  &few_steps, &out, &err),
                     -1);
    assert_true(strstr(err.msg, "exceeded the limit of 50 evaluation steps") != NULL);
    assert_int_equal(out.len, 4);

    tmpl_exec_options shallow = {.max_depth = 5};
    assert_int_equal(execute_with("{{ define \"r\" }}x{{ template \"r\" }}{{ end }}{{ template \"r\" }}", &shallow,
                                  &out, &err),
                     -1);
    assert_string_equal(err.msg, "template: test:1:29: executing \"r\" at <{{template \"r\"}}>: exceeded maximum "
                                 "template depth (5)");

    /* Doubling a string exhausts the memory budget, not the process. */
    tmpl_exec_options little_memory = {.max_memory = 1 << 20};
    assert_int_equal(execute_with("{{ $s := \"xxxxxxxxxxxxxxxx\" }}{{ range .Ints }}{{ range $.Ints }}{{ range $.Ints }}"
                                  "{{ $s = printf \"%s%s\" $s $s }}{{ end }}{{ end }}{{ end }}{{ len $s }}",
                                  &little_memory, &out, &err),
                     -1);
    assert_true(strstr(err.msg, "exceeded the memory limit of 1048576 bytes") != NULL);
    assert_int_equal(out.len, 4);

    /* Values that print to far more than they take: a list holding the same
     * list twice, 25 times over; and values nested 3125 deep. */
    const char *doubling = "{{ $x := args 1 }}{{ range .Ints }}{{ range $.Ints }}{{ $x = args $x $x }}{{ end }}"
                           "{{ end }}";
    buf_reset(&text);
    buf_printf(&text, "%s{{ $x }}", doubling);
    assert_int_equal(execute_with((char *)text.data, NULL, &out, &err), -1);
    assert_string_equal(err.msg, "template: test:1:95: executing \"test\" at <{{$x}}>: output exceeds the limit of "
                                 "1048576 bytes");
    buf_reset(&text);
    buf_printf(&text, "%s{{ printf \"%%v\" $x | len }}", doubling);
    assert_int_equal(execute_with((char *)text.data, &little_memory, &out, &err), -1);
    assert_string_equal(err.msg, "template: test:1:95: executing \"test\" at <printf \"%v\" $x>: error calling printf: "
                                 "exceeded the memory limit of 1048576 bytes");
    buf_reset(&text);
    buf_printf(&text, "%s{{ html $x 1 }}", doubling);
    assert_int_equal(execute_with((char *)text.data, &little_memory, &out, &err), -1);
    assert_true(strstr(err.msg, "exceeded the memory limit of 1048576 bytes") != NULL);
    assert_int_equal(execute_with("{{ $x := 1 }}{{ range .Ints }}{{ range $.Ints }}{{ range $.Ints }}"
                                  "{{ range $.Ints }}{{ range $.Ints }}{{ $x = args $x }}{{ end }}{{ end }}{{ end }}"
                                  "{{ end }}{{ end }}{{ $x }}",
                                  NULL, &out, &err),
                     -1);
    assert_true(strstr(err.msg, "value nested deeper than 1000 levels") != NULL);
    assert_int_equal(execute_with("{{ printf \"%9999999d%9999999d\" 1 2 }}", &little_memory, &out, &err), -1);
    assert_true(strstr(err.msg, "exceeded the memory limit of 1048576 bytes") != NULL);
    assert_int_equal(out.len, 4);

    /* Deep nesting is refused when parsing, not by the C stack. */
    buf deep = {0};
    for (int i = 0; i < 300; i++) buf_append(&deep, "(", 1);
    buf_append(&deep, "1", 1);
    for (int i = 0; i < 300; i++) buf_append(&deep, ")", 1);
    buf_reset(&text);
    buf_printf(&text, "{{ %.*s }}", (int)deep.len, (char *)deep.data);
    assert_int_equal(execute_with((char *)text.data, NULL, &out, &err), -2);
    assert_string_equal(err.msg, "template: test:1: max expression depth exceeded");
    buf_reset(&text);
    for (int i = 0; i < 300; i++) buf_append(&text, "{{ if 1 }}", 10);
    buf_append(&text, "", 1);
    assert_int_equal(execute_with((char *)text.data, NULL, &out, &err), -2);
    assert_string_equal(err.msg, "template: test:1: max expression depth exceeded");
    buf_free(&deep);
    buf_free(&text);

    /* A template within the limits still works after all that. */
    assert_int_equal(execute_with("{{ len .List }}", NULL, &out, &err), 0);
    assert_int_equal(out.len, 5);
    assert_memory_equal(out.data, "keep3", 5);
    buf_free(&out);
}

/* ------------------------------------------------------------ data API */

static void test_data_api(void **state) {
    (void)state;
    tmpl_data *d = tmpl_data_new();
    tmpl *t = NULL;
    errbuf err;
    const char *text = "{{ range $k, $v := . }}{{ $k }}={{ $v }} {{ end }}{{ .b }}";
    assert_int_equal(tmpl_parse("m", text, strlen(text), NULL, &t, &err), 0);

    /* Unsorted labels are indexed; the map reads as sorted. */
    static const label unsorted[] = {L("c", "3"), L("a", "1"), L("b", "2")};
    buf out = {0};
    assert_int_equal(tmpl_execute(t, tmpl_labels(d, TMPL_MAP_STRINGS, unsorted, 3), NULL, &out, &err), 0);
    assert_int_equal(out.len, strlen("a=1 b=2 c=3 2"));
    assert_memory_equal(out.data, "a=1 b=2 c=3 2", out.len);

    /* Putting a key twice replaces it. */
    tmpl_data_reset(d);
    tmpl_value *m = tmpl_map(d, TMPL_MAP_ANY, 1);
    tmpl_map_put(d, m, "b", 1, tmpl_int(d, 1));
    tmpl_map_put(d, m, "a", 1, NULL);
    tmpl_map_put(d, m, "b", 1, tmpl_float(d, 2.5));
    buf_reset(&out);
    assert_int_equal(tmpl_execute(t, m, NULL, &out, &err), 0);
    assert_int_equal(out.len, strlen("a=<no value> b=2.5 2.5"));
    assert_memory_equal(out.data, "a=<no value> b=2.5 2.5", out.len);

    /* Copied labels outlive their source. */
    char name[] = "job", value[] = "node";
    label src = {name, 3, value, 4};
    const label *copy = tmpl_data_copy_labels(d, &src, 1);
    name[0] = value[0] = 'X';
    const char *t2 = "{{ .job }}";
    tmpl *tj = NULL;
    assert_int_equal(tmpl_parse("j", t2, strlen(t2), NULL, &tj, &err), 0);
    buf_reset(&out);
    assert_int_equal(tmpl_execute(tj, tmpl_labels(d, TMPL_MAP_STRINGS, copy, 1), NULL, &out, &err), 0);
    assert_int_equal(out.len, 4);
    assert_memory_equal(out.data, "node", 4);
    assert_string_equal(tmpl_data_strdup(d, "abc", 2), "ab");

    /* Big allocations and many small ones survive a reset cycle. */
    for (int round = 0; round < 3; round++) {
        tmpl_data_reset(d);
        tmpl_value *l = tmpl_list(d, TMPL_LIST_ANY, 0);
        for (int i = 0; i < 5000; i++) tmpl_list_push(d, l, tmpl_int(d, i));
        static char big[100000];
        memset(big, 'y', sizeof big);
        const char *s = tmpl_data_strdup(d, big, sizeof big);
        assert_int_equal(strlen(s), sizeof big);
        const char *tl = "{{ len . }} {{ index . 4999 }}";
        tmpl *tt = NULL;
        assert_int_equal(tmpl_parse("l", tl, strlen(tl), NULL, &tt, &err), 0);
        buf_reset(&out);
        assert_int_equal(tmpl_execute(tt, l, NULL, &out, &err), 0);
        assert_int_equal(out.len, 9);
        assert_memory_equal(out.data, "5000 4999", 9);
        tmpl_free(tt);
    }
    buf_free(&out);
    tmpl_free(tj);
    tmpl_free(t);
    tmpl_data_free(d);
    tmpl_free(NULL);
    tmpl_data_free(NULL);
}

/* ------------------------------------------------------------ threads */

typedef struct {
    const tmpl *t;
    const tmpl_value *dot;
    int ok;
} thread_arg;

static void *execute_many(void *p) {
    thread_arg *a = p;
    a->ok = 1;
    for (int i = 0; i < 300 && a->ok; i++) {
        buf out = {0};
        errbuf err;
        int calls = 0;
        tmpl_exec_options eo = {.query = query, .query_ctx = &calls};
        if (tmpl_execute(a->t, a->dot, &eo, &out, &err) != 0) a->ok = 0;
        const char *want = "host1:9100 85.12% b=21 a=11 ";
        if (out.len != strlen(want) || memcmp(out.data, want, out.len) != 0 || calls != 1) a->ok = 0;
        buf_free(&out);
    }
    return NULL;
}

/* One parsed template, shared read-only by several threads at once. */
static void test_concurrent_execution(void **state) {
    (void)state;
    const char *text = "{{ $labels.instance }} {{ $value | humanizePercentage }} "
                       "{{ range query \"up\" }}{{ .Labels.instance }}={{ .Value }} {{ end }}";
    tmpl *t = NULL;
    errbuf err;
    tmpl_options po = {.funcs = PROM};
    assert_int_equal(tmpl_parse_alert("alert", text, strlen(text), &po, &t, &err), 0);
    tmpl_data *d = tmpl_data_new();
    const tmpl_value *dot = fixture(d, D_ALERT);
    pthread_t th[4];
    thread_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (thread_arg){t, dot, 0};
        assert_int_equal(pthread_create(&th[i], NULL, execute_many, &args[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_true(args[i].ok);
    }
    tmpl_data_free(d);
    tmpl_free(t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prometheus_expansion),
        cmocka_unit_test(test_prometheus_functions),
        cmocka_unit_test(test_alert_prefix),
        cmocka_unit_test(test_control_structures),
        cmocka_unit_test(test_variables_and_fields),
        cmocka_unit_test(test_whitespace_and_comments),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_builtins),
        cmocka_unit_test(test_printf),
        cmocka_unit_test(test_alertmanager),
        cmocka_unit_test(test_defs_and_entry),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_data_api),
        cmocka_unit_test(test_concurrent_execution),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
