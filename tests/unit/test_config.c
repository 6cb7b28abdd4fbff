/*
 * test_config.c - the configuration loader: a table of bad configurations
 * with the message each must give (FILE:LINE:COL and, where Prometheus has
 * one, the gist of `promtool check config`'s message for the same text,
 * checked against promtool 2.42), good configurations with their parsed
 * values (defaults, inheritance, auth, TLS, file_sd, relabel rules), the
 * reload equality of scrape configs, and loading from a file.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ingest/config.h"

/* Parses text named "t.yml"; fails the test on an error. */
static promlite_config *parse_ok(const char *text) {
    promlite_config *cfg = NULL;
    errbuf err;
    err.msg[0] = 0;
    int rc = config_parse(text, strlen(text), "t.yml", &cfg, &err);
    if (rc) fail_msg("unexpected error: %s\n--- config:\n%s", err.msg, text);
    return cfg;
}

/* Every entry: the text and a substring the message must contain; the
 * message must start with "t.yml:".  Where promtool 2.42 rejects the same
 * text, the reason is its wording (its own prefix "parsing YAML file t.yml:"
 * or "yaml: unmarshal errors: line N:" becomes promlite's t.yml:LINE:COL:). */
static const struct {
    const char *yaml;
    const char *want;
} bad_configs[] = {
    /* YAML syntax */
    {"global:\n  scrape_interval: [1m\n", "t.yml:3:1: yaml: did not find expected ',' or ']'"},
    {"global:\n\tscrape_interval: 1m\n", "t.yml:2:1: yaml: found character that cannot start any token"},
    {"a: b: c\n", "t.yml:1:5: yaml: mapping values are not allowed in this context"},
    {"scrape_configs:\n  - job_name: \"a\n", "t.yml:"},
    {"x: *nope\n", "yaml: found undefined alias"},
    {"global: {}\n---\nglobal: {}\n", "t.yml:2:1: a second YAML document is not supported"},
    /* wrong types */
    {"[1, 2]\n", "t.yml:1:1: cannot unmarshal !!seq into config.plain"},
    {"global: 1\n", "t.yml:1:9: cannot unmarshal !!int `1` into config.plain"},
    {"scrape_configs: 1\n", "t.yml:1:17: cannot unmarshal !!int `1` into []*config.ScrapeConfig"},
    {"scrape_configs: [5]\n", "t.yml:1:18: cannot unmarshal !!int `5` into config.ScrapeConfig"},
    {"scrape_configs:\n  - job_name: [a]\n", "t.yml:2:15: cannot unmarshal !!seq into string"},
    {"scrape_configs:\n  - job_name: a\n    honor_labels: maybe\n", "t.yml:3:19: cannot unmarshal !!str `maybe` into bool"},
    {"scrape_configs:\n  - job_name: a\n    honor_labels: \"true\"\n", "t.yml:3:19: cannot unmarshal !!str `true` into bool"},
    {"scrape_configs:\n  - job_name: a\n    honor_timestamps: 1\n", "t.yml:3:23: cannot unmarshal !!int `1` into bool"},
    {"scrape_configs:\n  - job_name: a\n    sample_limit: abc\n", "t.yml:3:19: cannot unmarshal !!str `abc` into uint"},
    {"scrape_configs:\n  - job_name: a\n    sample_limit: -1\n", "t.yml:3:19: cannot unmarshal !!int `-1` into uint"},
    {"scrape_configs:\n  - job_name: a\n    label_limit: \"5\"\n", "t.yml:3:18: cannot unmarshal !!str `5` into uint"},
    {"scrape_configs:\n  - job_name: a\n    target_limit: a_rather_long_word\n",
     "cannot unmarshal !!str `a_rathe...` into uint"},
    {"scrape_configs:\n  - job_name: a\n    static_configs:\n      - targets: x:1\n",
     "t.yml:4:18: cannot unmarshal !!str `x:1` into []string"},
    {"scrape_configs:\n  - job_name: a\n    static_configs: 5\n", "t.yml:3:21: cannot unmarshal !!int `5` into []*targetgroup.Group"},
    {"scrape_configs:\n  - job_name: a\n    static_configs:\n      - labels: [x]\n",
     "t.yml:4:17: cannot unmarshal !!seq into model.LabelSet"},
    {"scrape_configs:\n  - job_name: a\n    params:\n      x: y\n", "t.yml:4:10: cannot unmarshal !!bool `y` into []string"},
    {"scrape_configs:\n  - job_name: a\n    params: 5\n", "cannot unmarshal !!int `5` into url.Values"},
    {"scrape_configs:\n  - job_name: a\n    relabel_configs: 5\n", "cannot unmarshal !!int `5` into []*relabel.Config"},
    {"scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - source_labels: a\n",
     "t.yml:4:24: cannot unmarshal !!str `a` into model.LabelNames"},
    {"scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - modulus: -1\n",
     "t.yml:4:18: cannot unmarshal !!int `-1` into uint64"},
    {"scrape_configs:\n  - job_name: a\n    authorization: 5\n", "cannot unmarshal !!int `5` into config.Authorization"},
    {"scrape_configs:\n  - job_name: a\n    tls_config:\n      insecure_skip_verify: 5\n",
     "t.yml:4:29: cannot unmarshal !!int `5` into bool"},
    {"global:\n  external_labels: [a]\n", "t.yml:2:20: cannot unmarshal !!seq into map[string]string"},
    {"rule_files: a.yml\n", "t.yml:1:13: cannot unmarshal !!str `a.yml` into []string"},
    {"alerting: 5\n", "t.yml:1:11: cannot unmarshal !!int `5` into config.plain"},
    /* unknown and repeated fields */
    {"foo: 1\n", "t.yml:1:1: field foo not found in type config.plain"},
    {"global:\n  bar: 1\n", "t.yml:2:3: field bar not found in type config.plain"},
    {"scrape_configs:\n  - job_name: a\n    foo: bar\n", "t.yml:3:5: field foo not found in type config.ScrapeConfig"},
    {"scrape_configs:\n  - job_name: a\n    tls_config:\n      foo: x\n", "t.yml:4:7: field foo not found in type config.plain"},
    {"scrape_configs:\n  - job_name: a\n    basic_auth: {foo: 1}\n", "field foo not found in type config.plain"},
    {"scrape_configs:\n  - job_name: a\n    authorization:\n      credentials: x\n      foo: 1\n",
     "t.yml:5:7: field foo not found in type config.Authorization"},
    {"scrape_configs:\n  - job_name: a\n    file_sd_configs:\n      - bar: 1\n", "t.yml:4:9: field bar not found in type file.plain"},
    {"scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - foo: 1\n", "t.yml:4:9: field foo not found in type relabel.plain"},
    {"scrape_configs:\n  - job_name: a\n    static_configs:\n      - foo: 1\n",
     "t.yml:4:9: field foo not found in type struct { Targets []string"},
    {"global:\n  scrape_interval: 1m\n  scrape_interval: 2m\n", "t.yml:3:3: field scrape_interval already set in type config.plain"},
    {"scrape_configs:\n  - job_name: a\n    metrics_path: /m\n    metrics_path: /n\n",
     "t.yml:4:5: field metrics_path already set in type config.ScrapeConfig"},
    {"global:\n  external_labels:\n    a: b\n    a: c\n", "t.yml:4:5: key \"a\" already set in map"},
    /* unsupported by promlite */
    {"remote_read:\n  - url: http://x\n", "t.yml:1:1: \"remote_read\" is not supported by promlite"},
    {"remote_write:\n  - url: http://x\n", "t.yml:1:1: \"remote_write\" is not supported by promlite"},
    {"storage:\n  tsdb:\n    out_of_order_time_window: 1m\n", "t.yml:1:1: \"storage\" is not supported by promlite"},
    {"tracing:\n  endpoint: x\n", "t.yml:1:1: \"tracing\" is not supported by promlite"},
    {"global:\n  query_log_file: q.log\n", "t.yml:2:3: \"query_log_file\" is not supported by promlite"},
    {"scrape_configs:\n  - job_name: a\n    kubernetes_sd_configs:\n      - role: pod\n",
     "t.yml:3:5: \"kubernetes_sd_configs\" is not supported by promlite"},
    {"scrape_configs:\n  - job_name: a\n    oauth2: {client_id: x}\n", "t.yml:3:5: \"oauth2\" is not supported by promlite"},
    /* invalid values */
    {"global:\n  scrape_interval: abc\n", "t.yml:2:20: not a valid duration string: \"abc\""},
    {"global:\n  scrape_interval: -1m\n", "t.yml:2:20: not a valid duration string: \"-1m\""},
    {"global:\n  scrape_interval: 5\n", "t.yml:2:20: not a valid duration string: \"5\""},
    {"global:\n  evaluation_interval: 1h1h\n", "not a valid duration string: \"1h1h\""},
    {"global:\n  scrape_interval: 5s\n  scrape_timeout: 6s\n", "t.yml:3:19: global scrape timeout greater than scrape interval"},
    {"global:\n  external_labels:\n    0bad: x\n", "t.yml:3:5: \"0bad\" is not a valid label name"},
    {"scrape_configs:\n  - metrics_path: /x\n", "t.yml:2:5: job_name is empty"},
    {"scrape_configs:\n  - job_name: \"\"\n", "t.yml:2:15: job_name is empty"},
    {"scrape_configs:\n  - job_name: ~\n", "job_name is empty"},
    {"scrape_configs:\n  -\n", "t.yml:2:4: empty or null scrape config section"},
    {"scrape_configs:\n  - job_name: a\n  - job_name: a\n", "t.yml:3:15: found multiple scrape configs with job name \"a\""},
    {"scrape_configs:\n  - &x\n    job_name: a\n  - *x\n", "found multiple scrape configs with job name \"a\""},
    {"scrape_configs:\n  - job_name: a\n    scrape_interval: 5s\n    scrape_timeout: 10s\n",
     "t.yml:4:21: scrape timeout greater than scrape interval for scrape config with job name \"a\""},
    {"scrape_configs:\n  - job_name: a\n    scrape_timeout: 2m\n",
     "t.yml:3:21: scrape timeout greater than scrape interval for scrape config with job name \"a\""},
    {"scrape_configs:\n  - job_name: a\n    scheme: ftp\n", "t.yml:3:13: scheme \"ftp\" is not supported"},
    {"scrape_configs:\n  - job_name: a\n    static_configs:\n      - targets: [\"http://foo:9100\"]\n",
     "t.yml:4:19: \"http://foo:9100\" is not a valid hostname"},
    {"scrape_configs:\n  - job_name: a\n    static_configs:\n      - targets: [\"a:1\", \"\"]\n",
     "t.yml:4:26: instance 1 in group 0: no address"},
    {"scrape_configs:\n  - job_name: a\n    static_configs:\n      - targets: [\"a:99999\"]\n",
     "t.yml:4:19: \"a:99999\" is not a valid target address: invalid port"},
    {"scrape_configs:\n  - job_name: a\n    static_configs:\n      - targets: [\"::1:9100\"]\n",
     "an IPv6 address needs brackets"},
    {"scrape_configs:\n  - job_name: a\n    static_configs:\n      - targets: [\"a:1\"]\n        labels:\n          \"a-b\": c\n",
     "t.yml:6:11: \"a-b\" is not a valid label name"},
    {"scrape_configs:\n  - job_name: a\n    static_configs:\n      -\n", "t.yml:4:8: empty or null section in static_configs"},
    {"scrape_configs:\n  - job_name: a\n    proxy_url: \"::bad\"\n", "t.yml:3:16: parse \"::bad\": missing protocol scheme"},
    {"scrape_configs:\n  - job_name: a\n    proxy_url: \"http://a b\"\n",
     "parse \"http://a b\": invalid character \" \" in host name"},
    {"scrape_configs:\n  - job_name: a\n    proxy_url: \"http://[::1\"\n", "parse \"http://[::1\": missing ']' in host"},
    {"scrape_configs:\n  - job_name: a\n    body_size_limit: 10XB\n", "t.yml:3:22: units: unknown unit XB in 10XB"},
    {"scrape_configs:\n  - job_name: a\n    body_size_limit: 10\n", "units: unknown unit  in 10"},
    {"scrape_configs:\n  - job_name: a\n    basic_auth:\n      username: u\n      password: p\n      password_file: f\n",
     "t.yml:6:22: at most one of basic_auth password & password_file must be configured"},
    {"scrape_configs:\n  - job_name: a\n    bearer_token: t\n    bearer_token_file: f\n",
     "t.yml:4:24: at most one of bearer_token & bearer_token_file must be configured"},
    {"scrape_configs:\n  - job_name: a\n    bearer_token: t\n    basic_auth:\n      username: u\n",
     "at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured"},
    {"scrape_configs:\n  - job_name: a\n    bearer_token: t\n    authorization:\n      credentials: c\n",
     "t.yml:5:7: authorization is not compatible with bearer_token & bearer_token_file"},
    {"scrape_configs:\n  - job_name: a\n    authorization:\n      credentials: c\n    basic_auth:\n      username: u\n",
     "at most one of basic_auth, oauth2 & authorization must be configured"},
    {"scrape_configs:\n  - job_name: a\n    authorization:\n      credentials: c\n      credentials_file: f\n",
     "t.yml:5:25: at most one of authorization credentials & credentials_file must be configured"},
    {"scrape_configs:\n  - job_name: a\n    authorization:\n      type: basic\n      credentials: c\n",
     "t.yml:4:13: authorization type cannot be set to \"basic\", use \"basic_auth\" instead"},
    {"scrape_configs:\n  - job_name: a\n    tls_config:\n      cert_file: x\n",
     "t.yml:4:18: client cert file \"x\" specified without client key file"},
    {"scrape_configs:\n  - job_name: a\n    tls_config:\n      min_version: TLS9\n", "unknown TLS version: TLS9"},
    {"scrape_configs:\n  - job_name: a\n    file_sd_configs:\n      - files: [\"/tmp/x.txt\"]\n",
     "t.yml:4:17: path name \"/tmp/x.txt\" is not valid for file discovery"},
    {"scrape_configs:\n  - job_name: a\n    file_sd_configs:\n      - files: [\"/tmp/*.json/x/*\"]\n",
     "path name \"/tmp/*.json/x/*\" is not valid for file discovery"},
    {"scrape_configs:\n  - job_name: a\n    file_sd_configs:\n      - refresh_interval: 1m\n",
     "t.yml:4:9: file service discovery config must contain at least one path name"},
    {"rule_files: [\"a/*/b.yml\"]\n", "t.yml:1:14: invalid rule file path \"a/*/b.yml\""},
    /* relabeling: relabel_rule_new's reasons, at the entry */
    {"scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - action: foo\n", "t.yml:4:9: unknown relabel action \"foo\""},
    {"scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - source_labels: [a]\n        regex: \"(\"\n",
     "t.yml:4:9: error parsing regexp: missing closing "},
    {"scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - action: replace\n        target_label: \"\"\n",
     "t.yml:4:9: relabel configuration for replace action requires 'target_label' value"},
    {"scrape_configs:\n  - job_name: a\n    metric_relabel_configs:\n      - action: hashmod\n        target_label: x\n        source_labels: [a]\n",
     "t.yml:4:9: relabel configuration for hashmod requires non-zero modulus"},
    {"scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - source_labels: [\"a-b\"]\n",
     "t.yml:4:25: \"a-b\" is not a valid label name"},
    {"scrape_configs:\n  - job_name: a\n    relabel_configs:\n      -\n", "t.yml:4:8: empty or null target relabeling rule in scrape config"},
    {"scrape_configs:\n  - job_name: a\n    metric_relabel_configs:\n      - ~\n",
     "t.yml:4:9: empty or null metric relabeling rule in scrape config"},
    /* an alias bomb stops at the node budget */
    {"a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
     "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
     "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
     "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n",
     "yaml: document has more than"},
};

static void test_bad_configs(void **state) {
    (void)state;
    size_t n = sizeof bad_configs / sizeof bad_configs[0];
    assert_true(n >= 30);
    int failures = 0;
    for (size_t i = 0; i < n; i++) {
        promlite_config *cfg = NULL;
        errbuf err;
        err.msg[0] = 0;
        int rc = config_parse(bad_configs[i].yaml, strlen(bad_configs[i].yaml), "t.yml", &cfg, &err);
        if (rc == 0) {
            config_free(cfg);
            print_error("case %zu accepted:\n%s\n", i, bad_configs[i].yaml);
            failures++;
            continue;
        }
        assert_null(cfg);
        if (strncmp(err.msg, "t.yml:", 6) || !strstr(err.msg, bad_configs[i].want)) {
            print_error("case %zu:\n%s\nwant: %s\ngot:  %s\n", i, bad_configs[i].yaml, bad_configs[i].want, err.msg);
            failures++;
        }
    }
    assert_int_equal(failures, 0);
}

/* An empty file is a valid configuration with every default. */
static void test_good_empty_defaults(void **state) {
    (void)state;
    promlite_config *cfg = parse_ok("");
    assert_int_equal(cfg->global.scrape_interval_ms, 60000);
    assert_int_equal(cfg->global.scrape_timeout_ms, 10000);
    assert_int_equal(cfg->global.evaluation_interval_ms, 60000);
    assert_int_equal(cfg->global.nexternal_labels, 0);
    assert_int_equal(cfg->nscrape, 0);
    assert_int_equal(cfg->nrule_files, 0);
    assert_null(cfg->alerting);
    config_free(cfg);
    cfg = parse_ok("# only a comment\nglobal:\nscrape_configs:\n");
    assert_int_equal(cfg->global.scrape_interval_ms, 60000);
    config_free(cfg);
}

/* A scrape config's defaults, and inheritance of the global intervals. */
static void test_good_scrape_defaults(void **state) {
    (void)state;
    promlite_config *cfg = parse_ok("global:\n  scrape_interval: 30s\n  scrape_timeout: 20s\n"
                                    "scrape_configs:\n  - job_name: node\n    static_configs:\n"
                                    "      - targets: ['127.0.0.1:9100', localhost]\n");
    assert_int_equal(cfg->nscrape, 1);
    const config_scrape *sc = &cfg->scrape_configs[0];
    assert_string_equal(sc->job_name, "node");
    assert_int_equal(sc->scrape_interval_ms, 30000);
    assert_int_equal(sc->scrape_timeout_ms, 20000);
    assert_string_equal(sc->metrics_path, "/metrics");
    assert_string_equal(sc->scheme, "http");
    assert_int_equal(sc->honor_labels, 0);
    assert_int_equal(sc->honor_timestamps, 1);
    assert_int_equal(sc->follow_redirects, 1);
    assert_int_equal(sc->enable_http2, 1);
    assert_null(sc->basic_auth);
    assert_null(sc->authorization);
    assert_null(sc->proxy_url);
    assert_null(sc->tls.ca_file);
    assert_int_equal(sc->nrelabel + sc->nmetric_relabel, 0);
    assert_int_equal(sc->sample_limit + sc->label_limit + sc->target_limit + sc->body_size_limit, 0);
    assert_int_equal(sc->line, 5);
    assert_int_equal(sc->nstatic, 1);
    assert_int_equal(sc->static_configs[0].ntargets, 2);
    assert_string_equal(sc->static_configs[0].targets[0], "127.0.0.1:9100");
    assert_string_equal(sc->static_configs[0].targets[1], "localhost");
    assert_ptr_equal(config_find_job(cfg, "node"), sc);
    assert_null(config_find_job(cfg, "other"));
    config_free(cfg);
}

/* The timeout inherited from global is capped at a shorter job interval;
 * the global timeout is capped at a short global interval. */
static void test_good_timeout_capping(void **state) {
    (void)state;
    promlite_config *cfg = parse_ok("global:\n  scrape_interval: 5s\n"
                                    "scrape_configs:\n  - job_name: a\n  - job_name: b\n    scrape_interval: 2s\n"
                                    "  - job_name: c\n    scrape_interval: 1h\n  - job_name: d\n    scrape_interval: 0s\n");
    assert_int_equal(cfg->global.scrape_interval_ms, 5000);
    assert_int_equal(cfg->global.scrape_timeout_ms, 5000);
    assert_int_equal(cfg->scrape_configs[0].scrape_timeout_ms, 5000);
    assert_int_equal(cfg->scrape_configs[1].scrape_interval_ms, 2000);
    assert_int_equal(cfg->scrape_configs[1].scrape_timeout_ms, 2000);
    assert_int_equal(cfg->scrape_configs[2].scrape_interval_ms, 3600000);
    assert_int_equal(cfg->scrape_configs[2].scrape_timeout_ms, 5000);
    assert_int_equal(cfg->scrape_configs[3].scrape_interval_ms, 5000); /* 0s means "inherit" */
    config_free(cfg);
}

/* Everything a scrape config can say, with YAML 1.1 scalars. */
static void test_good_full_scrape(void **state) {
    (void)state;
    promlite_config *cfg = parse_ok(
        "global:\n  evaluation_interval: 1h30m\n  external_labels:\n    site: lab\n    env: \"prod\"\n"
        "scrape_configs:\n"
        "  - job_name: 123\n"
        "    scheme: https\n    metrics_path: /probe\n    honor_labels: yes\n    honor_timestamps: off\n"
        "    params:\n      module: [http_2xx, icmp]\n      target: ['example.org']\n"
        "    sample_limit: 1_000\n    label_limit: 0x10\n    label_name_length_limit: 1e3\n"
        "    label_value_length_limit: 010\n    target_limit: 7\n    body_size_limit: 10MB\n"
        "    follow_redirects: false\n    enable_http2: False\n"
        "    proxy_url: http://proxy.local:3128\n"
        "    tls_config:\n      ca_file: ca.pem\n      cert_file: /etc/c.pem\n      key_file: k.pem\n"
        "      server_name: node.local\n      insecure_skip_verify: true\n      min_version: TLS12\n"
        "    basic_auth:\n      username: admin\n      password_file: secrets/pw\n"
        "    static_configs:\n      - targets: ['[::1]:9100']\n        labels: {zone: b, az: a}\n");
    const config_scrape *sc = &cfg->scrape_configs[0];
    assert_string_equal(sc->job_name, "123");
    assert_string_equal(sc->scheme, "https");
    assert_string_equal(sc->metrics_path, "/probe");
    assert_int_equal(sc->honor_labels, 1);
    assert_int_equal(sc->honor_timestamps, 0);
    assert_int_equal(sc->nparams, 2);
    assert_string_equal(sc->params[0].name, "module");
    assert_int_equal(sc->params[0].nvalues, 2);
    assert_string_equal(sc->params[0].values[1], "icmp");
    assert_string_equal(sc->params[1].values[0], "example.org");
    assert_int_equal(sc->sample_limit, 1000);
    assert_int_equal(sc->label_limit, 16);
    assert_int_equal(sc->label_name_length_limit, 1000);
    assert_int_equal(sc->label_value_length_limit, 8);
    assert_int_equal(sc->target_limit, 7);
    assert_int_equal(sc->body_size_limit, 10u << 20);
    assert_int_equal(sc->follow_redirects, 0);
    assert_int_equal(sc->enable_http2, 0);
    assert_string_equal(sc->proxy_url, "http://proxy.local:3128");
    /* Relative file names are resolved against the config's folder ("."
     * here, so they stay as written). */
    assert_string_equal(sc->tls.ca_file, "ca.pem");
    assert_string_equal(sc->tls.cert_file, "/etc/c.pem");
    assert_string_equal(sc->tls.key_file, "k.pem");
    assert_string_equal(sc->tls.server_name, "node.local");
    assert_int_equal(sc->tls.insecure_skip_verify, 1);
    assert_string_equal(sc->tls.min_version, "TLS12");
    assert_null(sc->tls.max_version);
    assert_non_null(sc->basic_auth);
    assert_string_equal(sc->basic_auth->username, "admin");
    assert_null(sc->basic_auth->password);
    assert_string_equal(sc->basic_auth->password_file, "secrets/pw");
    assert_null(sc->authorization);
    assert_int_equal(sc->static_configs[0].nlabels, 2);
    assert_string_equal(sc->static_configs[0].labels[0].name, "az"); /* sorted */
    assert_string_equal(sc->static_configs[0].labels[1].value, "b");
    assert_int_equal(cfg->global.evaluation_interval_ms, 5400000);
    assert_int_equal(cfg->global.nexternal_labels, 2);
    assert_string_equal(cfg->global.external_labels[0].name, "env");
    assert_string_equal(cfg->global.external_labels[0].value, "prod");
    assert_int_equal(cfg->global.external_labels[1].value_len, 3);
    config_free(cfg);
}

/* authorization, and the deprecated bearer_token forms converted to it. */
static void test_good_auth(void **state) {
    (void)state;
    promlite_config *cfg = parse_ok("scrape_configs:\n"
                                    "  - job_name: a\n    authorization:\n      credentials: s3cret\n"
                                    "  - job_name: b\n    authorization:\n      type: ' Token '\n      credentials_file: tok\n"
                                    "  - job_name: c\n    bearer_token: abc\n"
                                    "  - job_name: d\n    bearer_token_file: /run/tok\n"
                                    "  - job_name: e\n    basic_auth: {username: u, password: p}\n");
    const config_scrape *s = cfg->scrape_configs;
    assert_string_equal(s[0].authorization->type, "Bearer");
    assert_string_equal(s[0].authorization->credentials, "s3cret");
    assert_null(s[0].authorization->credentials_file);
    assert_string_equal(s[1].authorization->type, "Token");
    assert_string_equal(s[1].authorization->credentials_file, "tok");
    assert_string_equal(s[2].authorization->type, "Bearer");
    assert_string_equal(s[2].authorization->credentials, "abc");
    assert_string_equal(s[3].authorization->credentials_file, "/run/tok");
    assert_null(s[3].authorization->credentials);
    assert_null(s[4].authorization);
    assert_string_equal(s[4].basic_auth->username, "u");
    assert_string_equal(s[4].basic_auth->password, "p");
    config_free(cfg);
}

/* file_sd: the default refresh interval, resolution against the folder. */
static void test_good_file_sd_and_paths(void **state) {
    (void)state;
    promlite_config *cfg = NULL;
    errbuf err;
    const char *text = "rule_files: ['rules/*.yml', '/abs/r.yml']\n"
                       "scrape_configs:\n  - job_name: f\n    file_sd_configs:\n"
                       "      - files: ['targets/*.json', '/etc/t.yaml']\n"
                       "      - files: [a.yml]\n        refresh_interval: 30s\n"
                       "    bearer_token_file: tok\n";
    assert_int_equal(config_parse(text, strlen(text), "/etc/promlite/prometheus.yml", &cfg, &err), 0);
    assert_string_equal(cfg->dir, "/etc/promlite");
    assert_int_equal(cfg->nrule_files, 2);
    assert_string_equal(cfg->rule_files[0], "/etc/promlite/rules/*.yml");
    assert_string_equal(cfg->rule_files[1], "/abs/r.yml");
    assert_int_equal(cfg->rule_file_lines[1], 1);
    const config_scrape *sc = &cfg->scrape_configs[0];
    assert_int_equal(sc->nfile_sd, 2);
    assert_int_equal(sc->file_sd_configs[0].refresh_interval_ms, 300000);
    assert_int_equal(sc->file_sd_configs[0].nfiles, 2);
    assert_string_equal(sc->file_sd_configs[0].files[0], "/etc/promlite/targets/*.json");
    assert_string_equal(sc->file_sd_configs[0].files[1], "/etc/t.yaml");
    assert_int_equal(sc->file_sd_configs[1].refresh_interval_ms, 30000);
    assert_string_equal(sc->file_sd_configs[1].files[0], "/etc/promlite/a.yml");
    assert_int_equal(sc->file_sd_configs[1].line, 6);
    assert_string_equal(sc->authorization->credentials_file, "/etc/promlite/tok");
    config_free(cfg);
}

/* Relabel rules are built through relabel_rule_new, in order. */
static void test_good_relabel(void **state) {
    (void)state;
    promlite_config *cfg = parse_ok("scrape_configs:\n  - job_name: r\n    relabel_configs:\n"
                                    "      - source_labels: [__address__]\n        target_label: instance\n"
                                    "      - action: labeldrop\n        regex: tmp_.*\n"
                                    "      - {action: hashmod, source_labels: [a, b], modulus: 4, target_label: shard}\n"
                                    "    metric_relabel_configs:\n      - source_labels: [__name__]\n"
                                    "        regex: go_.*\n        action: drop\n");
    const config_scrape *sc = &cfg->scrape_configs[0];
    assert_int_equal(sc->nrelabel, 3);
    assert_int_equal(sc->nmetric_relabel, 1);
    assert_int_equal(relabel_rule_action(sc->relabel_rules[0]), RELABEL_REPLACE);
    assert_int_equal(relabel_rule_action(sc->relabel_rules[1]), RELABEL_LABELDROP);
    assert_int_equal(relabel_rule_action(sc->relabel_rules[2]), RELABEL_HASHMOD);
    assert_int_equal(relabel_rule_action(sc->metric_relabel_rules[0]), RELABEL_DROP);
    /* The rules work: drop go_* series. */
    label in[] = {{"__name__", 8, "go_goroutines", 13, }};
    relabel_builder b;
    relabel_builder_init(&b);
    assert_int_equal(relabel_apply(sc->metric_relabel_rules, 1, in, 1, &b), 0);
    relabel_builder_free(&b);
    config_free(cfg);
}

/* alerting is kept as a raw node; unsupported sections that configure
 * nothing are accepted; anchors, aliases and merge keys work. */
static void test_good_alerting_and_merge(void **state) {
    (void)state;
    promlite_config *cfg = parse_ok("alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['127.0.0.1:9093']\n"
                                    "remote_write: []\nstorage:\n"
                                    "scrape_configs:\n"
                                    "  - &common\n    job_name: a\n    scrape_interval: 10s\n    metrics_path: /m\n"
                                    "  - <<: *common\n    job_name: b\n");
    assert_non_null(cfg->alerting);
    assert_int_equal(cfg->alerting->kind, YT_MAPPING);
    assert_int_equal(cfg->alerting->line, 2);
    assert_string_equal(cfg->alerting->pairs[0].key->value, "alertmanagers");
    assert_int_equal(cfg->nscrape, 2);
    assert_string_equal(cfg->scrape_configs[1].job_name, "b");
    assert_int_equal(cfg->scrape_configs[1].scrape_interval_ms, 10000);
    assert_string_equal(cfg->scrape_configs[1].metrics_path, "/m");
    config_free(cfg);
}

/* Reload equality: formatting, quoting and key order do not matter; any
 * change of value, and a change of what a job inherits, does. */
static void test_scrape_equal(void **state) {
    (void)state;
    promlite_config *a = parse_ok("scrape_configs:\n  - job_name: x\n    scrape_interval: 15s\n"
                                  "    static_configs: [{targets: ['h:1']}]\n  - job_name: y\n");
    promlite_config *b = parse_ok("# reformatted\nscrape_configs:\n  - static_configs:\n      - targets:\n"
                                  "          - \"h:1\"\n    scrape_interval: \"15s\"\n    job_name: 'x'\n"
                                  "  - job_name: y\n");
    promlite_config *c = parse_ok("scrape_configs:\n  - job_name: x\n    scrape_interval: 15s\n"
                                  "    static_configs: [{targets: ['h:2']}]\n  - job_name: y\n");
    promlite_config *d = parse_ok("global: {scrape_interval: 30s}\nscrape_configs:\n  - job_name: x\n    scrape_interval: 15s\n"
                                  "    static_configs: [{targets: ['h:1']}]\n  - job_name: y\n");
    assert_true(config_scrape_equal(&a->scrape_configs[0], &b->scrape_configs[0]));
    assert_true(config_scrape_equal(&a->scrape_configs[1], &b->scrape_configs[1]));
    assert_true(config_scrape_targets_equal(&a->scrape_configs[0], &b->scrape_configs[0]));
    /* Only x's targets differ in c: settings equal, targets not. */
    assert_true(config_scrape_equal(&a->scrape_configs[0], &c->scrape_configs[0]));
    assert_false(config_scrape_targets_equal(&a->scrape_configs[0], &c->scrape_configs[0]));
    assert_true(config_scrape_equal(&a->scrape_configs[1], &c->scrape_configs[1]));
    assert_true(config_scrape_targets_equal(&a->scrape_configs[1], &c->scrape_configs[1]));
    /* x sets its own interval and is unchanged; y inherits the new one. */
    assert_true(config_scrape_equal(&a->scrape_configs[0], &d->scrape_configs[0]));
    assert_false(config_scrape_equal(&a->scrape_configs[1], &d->scrape_configs[1]));
    assert_false(config_scrape_equal(&a->scrape_configs[0], &a->scrape_configs[1]));
    /* Targets added by config_add_targets count as targets. */
    errbuf err;
    label kv[] = {{"k", 1, "v", 1}, {"a", 1, "b", 1}};
    config_target_input more = {"h:2", kv, 2, "managed"};
    assert_int_equal(config_add_targets(b, "x", &more, 1, &err), 0);
    assert_int_equal(b->scrape_configs[0].nstatic, 2);
    assert_string_equal(b->scrape_configs[0].static_configs[1].targets[0], "h:2");
    assert_string_equal(b->scrape_configs[0].static_configs[1].labels[0].name, "a"); /* sorted */
    assert_true(config_scrape_equal(&a->scrape_configs[0], &b->scrape_configs[0]));
    assert_false(config_scrape_targets_equal(&a->scrape_configs[0], &b->scrape_configs[0]));
    assert_int_equal(config_add_targets(b, "nope", &more, 1, &err), -1);
    assert_string_equal(err.msg, "no scrape config with job name \"nope\"");
    config_target_input bad[] = {{"h:3", NULL, 0, "first"}, {"a/b", NULL, 0, "second"}};
    assert_int_equal(config_add_targets(b, "x", bad, 2, &err), -1);
    assert_string_equal(err.msg, "second: \"a/b\" is not a valid hostname");
    label badname[] = {{"0x", 2, "v", 1}};
    config_target_input bn = {"h:4", badname, 1, "third"};
    assert_int_equal(config_add_targets(b, "x", &bn, 1, &err), -1);
    assert_string_equal(err.msg, "third: \"0x\" is not a valid label name");
    label twice[] = {{"k", 1, "v", 1}, {"k", 1, "w", 1}};
    config_target_input tw = {"h:5", twice, 2, "fourth"};
    assert_int_equal(config_add_targets(b, "x", &tw, 1, &err), -1);
    assert_string_equal(err.msg, "fourth: key \"k\" already set in map");
    assert_int_equal(b->scrape_configs[0].nstatic, 2); /* unchanged by the failures */
    /* Scrape configs from a second text get the file's globals. */
    const char *jobs = "[{\"job_name\": \"z\", \"metrics_path\": \"/m\"}]";
    assert_int_equal(config_add_scrape_configs(d, jobs, strlen(jobs), "managed", &err), 0);
    assert_int_equal(d->nscrape, 3);
    assert_int_equal(config_find_job(d, "z")->scrape_interval_ms, 30000);
    assert_string_equal(config_find_job(d, "z")->metrics_path, "/m");
    const char *dup = "[{\"job_name\": \"x\"}]";
    assert_int_equal(config_add_scrape_configs(d, dup, strlen(dup), "managed", &err), -1);
    assert_string_equal(err.msg, "managed:1:15: found multiple scrape configs with job name \"x\"");
    assert_int_equal(d->nscrape, 3);
    config_free(a);
    config_free(b);
    config_free(c);
    config_free(d);
}

/* config_load reads a file; a missing file names it. */
static void test_load_file(void **state) {
    (void)state;
    char dir[] = "/tmp/promlite-test-config-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof path, "%s/prometheus.yml", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("rule_files: [alerts.yml]\nscrape_configs:\n  - job_name: promlite\n    static_configs:\n"
          "      - targets: ['127.0.0.1:9090']\n",
          f);
    fclose(f);
    promlite_config *cfg;
    errbuf err;
    assert_int_equal(config_load(path, &cfg, &err), 0);
    char want[160];
    snprintf(want, sizeof want, "%s/alerts.yml", dir);
    assert_string_equal(cfg->rule_files[0], want);
    assert_string_equal(cfg->scrape_configs[0].job_name, "promlite");
    config_free(cfg);
    unlink(path);
    assert_int_equal(config_load(path, &cfg, &err), -1);
    assert_null(cfg);
    assert_non_null(strstr(err.msg, "prometheus.yml: cannot open"));
    rmdir(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_configs),
        cmocka_unit_test(test_good_empty_defaults),
        cmocka_unit_test(test_good_scrape_defaults),
        cmocka_unit_test(test_good_timeout_capping),
        cmocka_unit_test(test_good_full_scrape),
        cmocka_unit_test(test_good_auth),
        cmocka_unit_test(test_good_file_sd_and_paths),
        cmocka_unit_test(test_good_relabel),
        cmocka_unit_test(test_good_alerting_and_merge),
        cmocka_unit_test(test_scrape_equal),
        cmocka_unit_test(test_load_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
