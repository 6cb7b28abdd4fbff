/*
 * config.h - promlite's server configuration: the subset of prometheus.yml
 * that small sites use, with Prometheus 2.42's key names, defaults and
 * meaning.
 *
 * Loading has two stages.  common/yamltree.h reads the text into a
 * node tree (yt_node: every node keeps its line and
 * column); the tree is then walked against a fixed schema that fills the
 * typed structs below, applies defaults and inheritance (global scrape
 * settings into each scrape config) and checks every value as Prometheus
 * does.  Any problem stops loading with one message in errbuf:
 *
 *     FILE:LINE:COL: REASON
 *
 * where REASON uses Prometheus's wording where practical ("field foo not
 * found in type config.ScrapeConfig", "cannot unmarshal !!str `abc` into
 * bool", "not a valid duration string: \"1x\"").  Keys that Prometheus has
 * but promlite does not implement yet (remote_write, kubernetes_sd_configs,
 * oauth2, ...) are refused by name ("\"remote_read\" is not supported by
 * promlite"), never ignored.  docs/configuration.md lists what is supported.
 *
 * Relative file names (rule_files, file_sd files, TLS and credential
 * files) are resolved against the folder of the configuration file, as
 * Prometheus does.
 *
 * Ownership: config_load()/config_parse() return a promlite_config that owns
 * everything reachable from it (strings, arrays, the relabel rules, the raw
 * alerting node) in one allocation context; config_free() releases it all.
 * Nothing points into the input text.
 * Threads: loading is self-contained (no global state), so any thread may
 * load.  A loaded configuration is read-only and may be read by any number
 * of threads, except that relabel rules are applied by one thread at a time
 * (see ingest/relabel.h).
 */
#ifndef PROMLITE_CONFIG_H
#define PROMLITE_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "common/labels.h"
#include "common/util.h"
#include "common/yamltree.h"
#include "ingest/relabel.h"

/* ------------------------------------------------------------ settings */

/* basic_auth: password and password_file are exclusive. */
typedef struct {
    const char *username;       /* "" when not given */
    const char *password;       /* NULL when not given */
    const char *password_file;  /* resolved path; NULL when not given */
} config_basic_auth;

/* authorization (and the deprecated bearer_token / bearer_token_file,
 * which load as type "Bearer" with credentials / credentials_file, as
 * Prometheus converts them). */
typedef struct {
    const char *type;             /* default "Bearer" */
    const char *credentials;      /* NULL when not given */
    const char *credentials_file; /* resolved path; NULL when not given */
} config_authorization;

/* tls_config.  File names are resolved; NULL when not given.  cert_file and
 * key_file come together or not at all. */
typedef struct {
    const char *ca_file, *cert_file, *key_file;
    const char *server_name;
    int insecure_skip_verify;
    /* "TLS10".."TLS13"; NULL when not given (min defaults to TLS12 in
     * Prometheus; max to the library's newest). */
    const char *min_version, *max_version;
} config_tls;

/* One `params` entry: a URL query parameter with its values, in order. */
typedef struct {
    const char *name;
    const char **values;
    size_t nvalues;
} config_param;

/* One static_configs entry: targets as written ("host:port", "host",
 * "[::1]:9100") and the labels given to all of them (sorted by name). */
typedef struct {
    const char **targets;
    size_t ntargets;
    label *labels;
    size_t nlabels;
    int line;
} config_static;

/* One file_sd_configs entry: resolved glob patterns (each ends in .json,
 * .yml or .yaml) and how often to re-read them. */
typedef struct {
    const char **files;
    size_t nfiles;
    int64_t refresh_interval_ms;    /* default 5m */
    int line;
} config_file_sd;

/* One scrape_configs entry with every default and inherited value filled
 * in.  A limit of 0 means "no limit", as in Prometheus. */
typedef struct config_scrape {
    const char *job_name;           /* required, unique */
    int64_t scrape_interval_ms;     /* default: global.scrape_interval */
    int64_t scrape_timeout_ms;      /* default: global.scrape_timeout, capped at the interval */
    const char *metrics_path;       /* default "/metrics" */
    const char *scheme;             /* "http" (default) or "https" */
    config_param *params;
    size_t nparams;
    int honor_labels;               /* default 0 */
    int honor_timestamps;           /* default 1 */
    const config_basic_auth *basic_auth;        /* NULL when not configured */
    const config_authorization *authorization;  /* NULL when not configured */
    config_tls tls;
    const char *proxy_url;          /* NULL when not given */
    int follow_redirects;           /* default 1 */
    int enable_http2;               /* default 1 */
    config_static *static_configs;
    size_t nstatic;
    config_file_sd *file_sd_configs;
    size_t nfile_sd;
    relabel_rule **relabel_rules;   /* relabel_configs, in order */
    size_t nrelabel;
    relabel_rule **metric_relabel_rules;  /* metric_relabel_configs, in order */
    size_t nmetric_relabel;
    uint64_t sample_limit, label_limit, label_name_length_limit, label_value_length_limit;
    uint64_t target_limit;
    uint64_t body_size_limit;       /* bytes */
    int line;                       /* where the entry starts */
    /* A canonical form of the entry's source plus everything it inherits
     * (global intervals, the config folder): equal forms mean equal
     * behaviour.  Compared by config_scrape_equal(). */
    uint64_t source_hash;
    const char *canonical;
    size_t canonical_len;
    /* The same for static_configs, which the canonical form leaves out
     * (config_scrape_targets_equal). */
    uint64_t targets_hash;
} config_scrape;

/* global. */
typedef struct {
    int64_t scrape_interval_ms;     /* default 1m */
    int64_t scrape_timeout_ms;      /* default 10s (the interval when that is shorter) */
    int64_t evaluation_interval_ms; /* default 1m */
    label *external_labels;         /* sorted by name */
    size_t nexternal_labels;
} config_global;

/* The whole file. */
typedef struct promlite_config {
    const char *name;               /* the file name errors use */
    const char *dir;                /* folder relative paths are resolved in */
    config_global global;
    config_scrape *scrape_configs;
    size_t nscrape;
    /* rule_files: glob patterns resolved against dir, not expanded: the
     * rules module expands and parses them. */
    const char **rule_files;
    size_t nrule_files;
    int *rule_file_lines;           /* line of each pattern, for messages */
    /* alerting: the raw node, checked only to be a mapping; NULL when
     * absent.  The alerting module will read it. */
    const yt_node *alerting;
    yt_arena *ctx;                  /* the allocation context (private) */
} promlite_config;

/* Reads and checks a configuration file (at most 16 MiB).  Returns 0 and
 * sets *out (free with config_free), or -1 with err set. */
int config_load(const char *path, promlite_config **out, errbuf *err);

/* The same from text in memory; name is used in messages and its folder
 * resolves relative paths.  The text need not be NUL-terminated. */
int config_parse(const char *text, size_t len, const char *name, promlite_config **out, errbuf *err);

/* Releases a configuration and everything it owns.  NULL is a no-op. */
void config_free(promlite_config *cfg);

/* Whether two scrape configs (of the same or different loads) behave
 * identically: same source after canonicalisation (mapping keys sorted,
 * scalars by resolved tag and value) and the same inherited values.  A
 * reload uses it to restart only the jobs that changed.  External labels
 * are not part of a scrape config: compare them separately. */
int config_scrape_equal(const config_scrape *a, const config_scrape *b);

/* Whether two scrape configs list the same static targets (static_configs
 * after canonicalisation, including what config_add_targets added).
 * With config_scrape_equal true and this false, only the targets changed. */
int config_scrape_targets_equal(const config_scrape *a, const config_scrape *b);

/* Adds scrape configs from a second text to a loaded configuration: text is
 * a YAML (or JSON) sequence of scrape_configs entries, checked as the file's
 * own are, with cfg's global settings and folder.  A job name already in
 * cfg is refused.  name is used in messages ("NAME:LINE:COL: ...").
 * Returns 0, or -1 with err set and cfg unchanged. */
int config_add_scrape_configs(promlite_config *cfg, const char *text, size_t len, const char *name, errbuf *err);

/* One target for config_add_targets: an address as static_configs take
 * it and its labels (any order; copied).  name is used in messages. */
typedef struct {
    const char *address;
    const label *labels;
    size_t nlabels;
    const char *name;
} config_target_input;

/* Adds n targets, each a static group of its own, to the job named
 * job_name, with the checks static_configs get (address, label names and
 * values, repeated names), without going through YAML: the way of many
 * targets made by a program (the target management API).  Returns 0, or
 * -1 with err set ("NAME: reason") and cfg unchanged. */
int config_add_targets(promlite_config *cfg, const char *job_name, const config_target_input *in, size_t n,
                       errbuf *err);

/* The HTTP client settings prometheus/common's HTTPClientConfig has, as
 * every configuration with an HTTP client reads them (scrape configs,
 * receivers' http_config, alertmanagers): basic_auth, authorization,
 * tls_config (with promtool's certificate/key pairing check) and a
 * proxy_url.  File names are resolved against L->dir; strings live in
 * L's arena.  Each returns 0, or -1 with L->err set. */
int config_decode_basic_auth(yt_loader *L, const yt_node *n, config_basic_auth *ba);
int config_decode_authorization(yt_loader *L, const yt_node *n, config_authorization *a);
int config_decode_tls(yt_loader *L, const yt_node *n, config_tls *t);
int config_check_proxy_url(yt_loader *L, const yt_node *at, const char *url);

/* All of HTTPClientConfig's fields that promlite supports, read from the
 * mapping n (whose keys the caller has checked: they may sit beside
 * others, as in scrape configs), with HTTPClientConfig.Validate's checks
 * in order; bearer_token(_file) becomes an authorization of type Bearer.
 * Fields not given keep what *h holds (the caller's defaults). */
typedef struct config_http {
    const config_basic_auth *basic_auth;        /* NULL when not configured */
    const config_authorization *authorization;  /* NULL when not configured */
    config_tls tls;
    const char *proxy_url;                      /* NULL when not given */
    int follow_redirects;
    int enable_http2;
} config_http;
int config_decode_http(yt_loader *L, const yt_node *n, config_http *h);

/* Finds a scrape config by job name; NULL when there is none. */
const config_scrape *config_find_job(const promlite_config *cfg, const char *job_name);

#endif
