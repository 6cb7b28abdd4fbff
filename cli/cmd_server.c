/*
 * cmd_server.c - `promlite server`: loads the configuration, opens the data
 * folder, scrapes the configured targets (ingest/scrape.h, whose thread is
 * the storage's writer), serves Prometheus's HTTP API, and runs until
 * SIGINT or SIGTERM (or POST /-/quit with --web.enable-lifecycle), then
 * stops scraping and closes the storage cleanly.
 *
 * Signals are blocked in every thread and taken synchronously by the main
 * thread with sigtimedwait(), so no handler runs in the middle of a query
 * or a storage write.  A reload (SIGHUP, or POST /-/reload, which raises
 * SIGHUP and waits for the outcome) also runs on the main thread: a new
 * configuration that fails to load (the file or any of its rule files)
 * leaves the running one in place, and promlite_config_last_reload_successful
 * says so.
 */
#include <errno.h>
#include <pthread.h>
#include <unistd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alert/amconfig.h"
#include "alert/forward.h"
#include "alert/notifier.h"
#include "alert/ruler.h"
#include "alert/rules.h"
#include "alert/silences.h"
#include "cli/cli.h"
#include "config.h"
#include "common/timeutil.h"
#include "ingest/registry.h"
#include "ingest/scrape.h"
#include "web/server.h"
#include "web/webconfig.h"

/* Reads and loads the configuration file once, keeping its text (for
 * /api/v1/status/config and for rebuilding with managed targets), so that
 * the text shown is the one loaded.  A file that cannot be read is left to
 * config_load() for its message.  Returns 0 with *cfg and *text (malloc'd)
 * set, or -1 with err. */
static int load_config_file(const char *path, promlite_config **cfg, char **text, errbuf *err) {
    size_t len;
    *text = read_small_file(path, 16u << 20, &len);
    if (!*text) {
        if (config_load(path, cfg, err)) return -1;
        config_free(*cfg); /* readable now: it changed under us */
        return errf(err, "%s: cannot read (it changed while being read)", path);
    }
    if (config_parse(*text, len, path, cfg, err) == 0) return 0;
    free(*text);
    *text = NULL;
    return -1;
}

/* What the request threads share with the main thread about the
 * configuration, guarded by mu. */
typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t done;
    const char *config_file;
    char *yaml;                     /* text of the running configuration   */
    uint64_t reload_asked, reload_done;
    int last_ok;
    char last_err[512];
    double last_success_s;          /* Unix time of the last good load     */
    scrape_manager *scrape;
    registry *reg;                  /* jobs and targets managed over HTTP  */
    ruler *ruler;                   /* recording and alerting rules        */
    silences *silences;
    notifier *notifier;             /* grouping, routing, delivery         */
    forwarder *forwarder;           /* alerting.alertmanagers              */
    size_t orphans;                 /* managed targets whose job is gone   */
} server_state;

static double unix_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Reports managed targets that name a job no longer there (once per
 * change of their number). */
static void note_orphans(server_state *st, size_t orphans) {
    if (orphans && orphans != st->orphans)
        fprintf(stderr, "promlite server: %zu managed target%s name%s a job that exists nowhere; kept, not scraped\n",
                orphans, orphans == 1 ? "" : "s", orphans == 1 ? "s" : "");
    st->orphans = orphans;
}

/* Loads the rule files a configuration names.  Every problem is printed
 * (a rule file may have many); err gets the first and how many more.
 * Returns the set, or NULL. */
static rule_set *load_rules(const promlite_config *cfg, errbuf *err) {
    rule_set *rs = rule_set_new();
    rule_errors errs = {0};
    if (rule_set_add_globs(rs, cfg->rule_files, cfg->nrule_files, &errs) == 0) return rs;
    for (size_t i = 1; i < errs.n; i++) fprintf(stderr, "promlite server: %s\n", errs.msgs[i]);
    if (errs.n > 1) errf(err, "%s (and %zu more problems in rule files, logged)", errs.msgs[0], errs.n - 1);
    else errf(err, "%s", errs.n ? errs.msgs[0] : "cannot load the rule files");
    rule_errors_free(&errs);
    rule_set_free(rs);
    return NULL;
}

/* A configuration's settings for the rules, copied (the configuration
 * itself goes to the scrape manager, which may free it at any time). */
typedef struct {
    ruler_context c;
    label *labels;
    buf strings;
} rules_context;

static void rules_context_from(rules_context *rc, const promlite_config *cfg) {
    memset(rc, 0, sizeof *rc);
    size_t n = cfg->global.nexternal_labels;
    rc->labels = xcalloc(n ? n : 1, sizeof *rc->labels);
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += cfg->global.external_labels[i].name_len + cfg->global.external_labels[i].value_len + 2;
    buf_reserve(&rc->strings, total + 1);
    for (size_t i = 0; i < n; i++) {
        const label *l = &cfg->global.external_labels[i];
        char *name = (char *)rc->strings.data + rc->strings.len;
        buf_append(&rc->strings, l->name, l->name_len);
        buf_append(&rc->strings, "", 1);
        char *value = (char *)rc->strings.data + rc->strings.len;
        buf_append(&rc->strings, l->value, l->value_len);
        buf_append(&rc->strings, "", 1);
        rc->labels[i] = (label){name, l->name_len, value, l->value_len};
    }
    rc->c = (ruler_context){cfg->global.evaluation_interval_ms, rc->labels, n};
}

static void rules_context_free(rules_context *rc) {
    free(rc->labels);
    buf_free(&rc->strings);
}

/* The alerting section of a loaded configuration, decoded on its own
 * (the notifier and the forwarder keep it past the configuration). */
static am_config *load_alerting(const promlite_config *cfg, errbuf *err) {
    am_config *c = NULL;
    if (amconfig_decode(cfg->alerting, cfg->name, cfg->dir, &c, err)) return NULL;
    return c;
}

/* Hands a decoded alerting section to the notifier and the forwarder
 * (taking it). */
static void apply_alerting(server_state *st, am_config *c) {
    forwarder_apply(st->forwarder, amconfig_retain(c));
    notifier_apply(st->notifier, c);
}

static int64_t wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The rules' notify callback: the built-in notifier and the external
 * Alertmanagers both get the alerts. */
static void on_alerts(void *ctx, const ruler_alert *a, size_t n) {
    server_state *st = ctx;
    notifier_put(st->notifier, a, n, wall_ms());
    forwarder_send(st->forwarder, a, n);
}

/* registry hook: the running file's text plus a registry state. */
static int build_config(void *ctx, const registry_state *s, promlite_config **out, errbuf *err) {
    server_state *st = ctx;
    pthread_mutex_lock(&st->mu);
    char *yaml = st->yaml ? strdup(st->yaml) : strdup("");
    pthread_mutex_unlock(&st->mu);
    promlite_config *cfg;
    int rc = config_parse(yaml, strlen(yaml), st->config_file, &cfg, err);
    free(yaml);
    if (rc) return -1;
    size_t orphans;
    if (registry_render(s, cfg, &orphans, err)) {
        config_free(cfg);
        return -1;
    }
    *out = cfg;
    return 0;
}

/* registry hook: scraping switches to a changed registry at once. */
static void apply_config(void *ctx, promlite_config *cfg) {
    server_state *st = ctx;
    errbuf err;
    if (scrape_apply_config(st->scrape, cfg, &err))
        fprintf(stderr, "promlite server: applying managed targets: %s\n", err.msg);
}

typedef struct {
    server_state *st;
    promlite_config *cfg;   /* the file just loaded; consumed */
    int initial;            /* at start: scraping is not running yet */
    char *yaml;             /* its text: becomes the running one; consumed */
} reload_job;

/* Adds the registry to a freshly loaded file and applies it; runs under
 * the registry's lock (registry_with_state), so no API change interleaves. */
static int render_and_apply(void *ctx, const registry_state *s, errbuf *err) {
    reload_job *j = ctx;
    size_t orphans;
    if (registry_render(s, j->cfg, &orphans, err)) {
        config_free(j->cfg);
        j->cfg = NULL;
        return -1;
    }
    note_orphans(j->st, orphans);
    if (!j->initial) {
        promlite_config *cfg = j->cfg;
        j->cfg = NULL;
        if (scrape_apply_config(j->st->scrape, cfg, err)) return -1;
    }
    /* The text becomes the running one before the registry's lock is let
     * go, so that the next API change builds on it. */
    pthread_mutex_lock(&j->st->mu);
    free(j->st->yaml);
    j->st->yaml = j->yaml;
    j->yaml = NULL;
    pthread_mutex_unlock(&j->st->mu);
    return 0;
}

/* Loads the configuration file again and applies it (main thread). */
static void reload(server_state *st) {
    pthread_mutex_lock(&st->mu);
    uint64_t asked = st->reload_asked;
    pthread_mutex_unlock(&st->mu);
    promlite_config *cfg;
    errbuf err;
    char *text;
    int ok = load_config_file(st->config_file, &cfg, &text, &err) == 0;
    rule_set *rules = NULL;
    am_config *alerting = NULL;
    if (ok && (!(rules = load_rules(cfg, &err)) || !(alerting = load_alerting(cfg, &err)))) {
        ok = 0;
        rule_set_free(rules);
        config_free(cfg);
        free(text);
    }
    if (ok) {
        rules_context rc;
        rules_context_from(&rc, cfg);
        reload_job j = {st, cfg, 0, text};
        ok = registry_with_state(st->reg, render_and_apply, &j, &err) == 0;
        free(j.yaml);
        if (ok) {
            apply_alerting(st, alerting);
            ruler_apply(st->ruler, rules, &rc.c);
        } else {
            rule_set_free(rules);
            amconfig_free(alerting);
        }
        rules_context_free(&rc);
    }
    pthread_mutex_lock(&st->mu);
    st->last_ok = ok;
    if (ok) {
        st->last_success_s = unix_now();
        st->last_err[0] = 0;
        fprintf(stderr, "promlite server: reloaded %s\n", st->config_file);
    } else {
        snprintf(st->last_err, sizeof st->last_err, "%s", err.msg);
        fprintf(stderr, "promlite server: reload failed, the running configuration stays: %s\n", err.msg);
    }
    if (asked > st->reload_done) st->reload_done = asked;
    pthread_cond_broadcast(&st->done);
    pthread_mutex_unlock(&st->mu);
}

/* POST /-/reload: asks the main thread (by SIGHUP) and waits for it. */
static int http_reload(void *ctx, errbuf *err) {
    server_state *st = ctx;
    pthread_mutex_lock(&st->mu);
    uint64_t mine = ++st->reload_asked;
    pthread_mutex_unlock(&st->mu);
    kill(getpid(), SIGHUP);
    pthread_mutex_lock(&st->mu);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 60;
    while (st->reload_done < mine)
        if (pthread_cond_timedwait(&st->done, &st->mu, &until) == ETIMEDOUT) break;
    int rc = 0;
    if (st->reload_done < mine) rc = errf(err, "the reload did not finish within 60 s");
    else if (!st->last_ok) rc = errf(err, "%s", st->last_err);
    pthread_mutex_unlock(&st->mu);
    return rc;
}

static const char *http_config_yaml(void *ctx, buf *copy) {
    server_state *st = ctx;
    pthread_mutex_lock(&st->mu);
    if (st->yaml) buf_append(copy, st->yaml, strlen(st->yaml));
    pthread_mutex_unlock(&st->mu);
    buf_append(copy, "", 1);
    return (const char *)copy->data;
}

static void http_targets(void *ctx, buf *out, const char *state) {
    server_state *st = ctx;
    scrape_targets_json(st->scrape, out, state);
}

static void http_metadata(void *ctx, buf *out, const char *metric, long limit) {
    server_state *st = ctx;
    scrape_metadata_json(st->scrape, out, metric, limit);
}

static unsigned http_admin(void *ctx, const char *method, const char *path, const char *body, size_t body_len,
                           const char *job, int cascade, buf *out) {
    server_state *st = ctx;
    registry_request q = {method, path, body, body_len, job, cascade};
    return registry_handle(st->reg, &q, out);
}

static void http_rules(void *ctx, buf *out, const char *type) {
    server_state *st = ctx;
    ruler_rules_json(st->ruler, out, type);
}

static void http_alerts(void *ctx, buf *out) {
    server_state *st = ctx;
    ruler_alerts_json(st->ruler, out);
}

/* Alertmanager's API v2: alerts and status from the notifier, silences
 * from the silence store. */
static unsigned http_alertmanager(void *ctx, const char *method, const char *path, const char *const *params,
                                  size_t nparams, const char *body, size_t body_len, buf *out) {
    server_state *st = ctx;
    int64_t now = wall_ms();
    int get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
    if (!strcmp(path, "alerts") || !strcmp(path, "alerts/")) {
        if (get) return notifier_alerts_json(st->notifier, params, nparams, now, out);
        if (!strcmp(method, "POST")) return notifier_post_json(st->notifier, body, body_len, now, out);
        buf_printf(out, "{\"code\":405,\"message\":\"method %s is not allowed, but [GET,POST] are\"}", method);
        return 405;
    }
    if (!strcmp(path, "status") || !strcmp(path, "status/")) {
        if (!get) {
            buf_printf(out, "{\"code\":405,\"message\":\"method %s is not allowed, but [GET] are\"}", method);
            return 405;
        }
        notifier_status_json(st->notifier, now, out);
        return 200;
    }
    if (!strncmp(path, "silences", 8) || !strncmp(path, "silence/", 8)) {
        const char **filters = xcalloc(nparams + 1, sizeof *filters);
        size_t nf = 0;
        for (size_t i = 0; i < nparams; i++)
            if (!strcmp(params[2 * i], "filter")) filters[nf++] = params[2 * i + 1];
        silences_request q = {method, path, filters, nf, body, body_len};
        unsigned status = silences_handle(st->silences, &q, now, out);
        free(filters);
        return status;
    }
    buf_printf(out, "{\"code\":404,\"message\":\"path /api/v2/");
    for (const char *p = path; *p; p++)
        if (*p != '"' && *p != '\\' && (unsigned char)*p >= 0x20) buf_append(out, p, 1);
    buf_printf(out, " was not found\"}");
    return 404;
}

static void http_metrics(void *ctx, buf *out) {
    server_state *st = ctx;
    pthread_mutex_lock(&st->mu);
    int ok = st->last_ok;
    double when = st->last_success_s;
    pthread_mutex_unlock(&st->mu);
    buf_printf(out,
               "# HELP promlite_config_last_reload_successful Whether the last configuration reload attempt was successful.\n"
               "# TYPE promlite_config_last_reload_successful gauge\n"
               "promlite_config_last_reload_successful %d\n"
               "# HELP promlite_config_last_reload_success_timestamp_seconds Timestamp of the last successful configuration reload.\n"
               "# TYPE promlite_config_last_reload_success_timestamp_seconds gauge\n"
               "promlite_config_last_reload_success_timestamp_seconds %.3f\n",
               ok, when);
    size_t jobs, targets;
    registry_counts(st->reg, &jobs, &targets);
    buf_printf(out,
               "# HELP promlite_managed_jobs Jobs managed through /api/v1/admin/jobs.\n"
               "# TYPE promlite_managed_jobs gauge\n"
               "promlite_managed_jobs %zu\n"
               "# HELP promlite_managed_targets Targets managed through /api/v1/admin/targets and /register.\n"
               "# TYPE promlite_managed_targets gauge\n"
               "promlite_managed_targets %zu\n",
               jobs, targets);
    scrape_metrics(st->scrape, out);
    ruler_metrics(st->ruler, out);
    notifier_metrics(st->notifier, out);
    forwarder_metrics(st->forwarder, out);
    size_t counts[3];
    silences_count(st->silences, wall_ms(), counts);
    buf_printf(out,
               "# HELP alertmanager_silences How many silences by state.\n# TYPE alertmanager_silences gauge\n"
               "alertmanager_silences{state=\"active\"} %zu\nalertmanager_silences{state=\"expired\"} %zu\n"
               "alertmanager_silences{state=\"pending\"} %zu\n",
               counts[SILENCE_ACTIVE], counts[SILENCE_EXPIRED], counts[SILENCE_PENDING]);
}

/* Prometheus's default --web.external-url: http://HOSTNAME:PORT. */
static void default_external_url(unsigned port, char *out, size_t cap) {
    char host[256];
    if (gethostname(host, sizeof host)) snprintf(host, sizeof host, "localhost");
    host[sizeof host - 1] = 0;
    snprintf(out, cap, "http://%s:%u", host, port);
}

int cmd_server(int argc, char **argv) {
    storage_flags sf;
    const char *listen = NULL, *config_file = NULL, *max_samples = NULL, *web_config_file = NULL;
    const char *external_url = NULL;
    int64_t lookback = 0, timeout = 0, outage_tolerance = 0, grace_period = 0, resend_delay = 0;
    int lifecycle = 0;
    flag_def flags[] = {
        STORAGE_FLAG_DEFS(sf),
        {"config.file", FLAG_STRING, &config_file, "prometheus.yml", "Configuration file path.", NULL, 0},
        {"web.listen-address", FLAG_STRING, &listen, "127.0.0.1:9090",
         "Address to listen on for the API and UI (host:port; port 0 picks a free port).", NULL, 0},
        {"web.enable-lifecycle", FLAG_BOOL, &lifecycle, NULL, "Enable shutdown and reload via HTTP request.", NULL, 0},
        {"web.config.file", FLAG_STRING, &web_config_file, NULL,
         "Path to a web configuration file (TLS, basic auth users, bearer tokens; docs/security.md).", NULL, 0},
        {"query.lookback-delta", FLAG_DURATION, &lookback, "5m",
         "The maximum lookback duration for retrieving metrics during expression evaluations.", NULL, 0},
        {"query.timeout", FLAG_DURATION, &timeout, "2m", "Maximum time a query may take before being aborted.", NULL, 0},
        {"query.max-samples", FLAG_STRING, &max_samples, "50000000",
         "Maximum number of samples a single query can load into memory.", NULL, 0},
        {"web.external-url", FLAG_STRING, &external_url, NULL,
         "The URL under which promlite is reachable, used in links sent with alerts "
         "(default http://HOSTNAME:PORT).", NULL, 0},
        {"rules.alert.for-outage-tolerance", FLAG_DURATION, &outage_tolerance, "1h",
         "Max time to tolerate promlite outage for restoring \"for\" state of alert.", NULL, 0},
        {"rules.alert.for-grace-period", FLAG_DURATION, &grace_period, "10m",
         "Minimum duration between alert and restored \"for\" state. This is maintained only for alerts with "
         "configured \"for\" time greater than grace period.", NULL, 0},
        {"rules.alert.resend-delay", FLAG_DURATION, &resend_delay, "1m",
         "Minimum amount of time to wait before resending an alert.", NULL, 0},
        {0},
    };
    command cmd = {"server", NULL, "Run the monitoring server: scraping, storage and the HTTP API.",
                   "Scrapes the targets of --config.file (a prometheus.yml) into the data folder, evaluates\n"
                   "its rule_files, and serves Prometheus's HTTP API over it until SIGINT or SIGTERM.  SIGHUP (or POST /-/reload with\n"
                   "--web.enable-lifecycle) reloads the configuration; a bad one leaves the running one.",
                   flags, 0, 0};
    char *pos[4];
    int npos;
    int rc = flags_parse(&cmd, argc, argv, pos, &npos);
    if (rc) return rc == 1 ? 0 : 2;
    char *end;
    unsigned long long ms = strtoull(max_samples, &end, 10);
    if (*end || !*max_samples || ms == 0) {
        fprintf(stderr, "promlite server: invalid value \"%s\" for --query.max-samples: want a positive integer\n",
                max_samples);
        return 2;
    }
    /* Everything startup makes, so that one block below can undo what
     * exists when a step fails (and shut down in the same order). */
    errbuf err;
    int status = 1;
    web_security *security = NULL;
    promlite_config *cfg = NULL;
    char *config_text = NULL;
    rule_set *rules = NULL;          /* until the ruler takes it */
    am_config *alerting = NULL;      /* until the notifier takes it */
    rules_context first_rules = {0};
    tsdb *db = NULL;
    web_server *web = NULL;
    server_state st = {.config_file = config_file, .last_ok = 1, .last_success_s = unix_now()};
    pthread_mutex_init(&st.mu, NULL);
    pthread_cond_init(&st.done, NULL);
    reload_job first = {&st, NULL, 1, NULL}; /* the first load: cfg until scraping takes it */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);

    if (web_config_file && *web_config_file && webconfig_load(web_config_file, &security, &err)) goto failed;
    if (load_config_file(config_file, &cfg, &config_text, &err)) goto failed;
    first.cfg = cfg;
    first.yaml = config_text;
    if (!(rules = load_rules(cfg, &err)) || !(alerting = load_alerting(cfg, &err))) goto failed;
    rules_context_from(&first_rules, cfg);
    /* Block the signals before any thread starts, so that all inherit the mask. */
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    /* Scrapes are written to the WAL at once and synced once a second: a
     * crash of promlite loses nothing, a power loss at most the last
     * second (docs/tsdb.md). */
    db = cli_open_storage_synced("server", &sf, 1000);
    if (!db) goto out; /* it said why */
    /* The managed jobs and targets join the file's before scraping starts. */
    registry_options ro = {.db = db, .ctx = &st, .build = build_config, .apply = apply_config};
    if (registry_open(&ro, &st.reg, &err) || registry_with_state(st.reg, render_and_apply, &first, &err)) goto failed;
    scrape_options so = {.user_agent = "promlite/" PACKAGE_VERSION};
    cfg = first.cfg;
    first.cfg = NULL; /* scrape_start takes it, failing or not */
    if (scrape_start(db, cfg, &so, &st.scrape, &err)) goto failed;
    char lb[32], to[32];
    format_duration(lookback, lb, sizeof lb);
    format_duration(timeout, to, sizeof to);
    char ot[32], gp[32], rd[32];
    format_duration(outage_tolerance, ot, sizeof ot);
    format_duration(grace_period, gp, sizeof gp);
    format_duration(resend_delay, rd, sizeof rd);
    const char *flag_pairs[] = {"config.file", config_file, "storage.tsdb.path", sf.path, "web.listen-address", listen,
                                "rules.alert.for-outage-tolerance", ot, "rules.alert.for-grace-period", gp,
                                "rules.alert.resend-delay", rd, "web.external-url", external_url ? external_url : "",
                                "query.lookback-delta", lb, "query.timeout", to, "query.max-samples", max_samples,
                                "web.enable-lifecycle", lifecycle ? "true" : "false", "web.config.file",
                                web_config_file ? web_config_file : "", NULL, NULL};
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    web_options wo = {.listen_address = listen,
                      .db = db,
                      .query = {.lookback_ms = lookback, .max_samples = ms},
                      .query_timeout_s = (double)timeout / 1000,
                      .flags = flag_pairs,
                      .storage_path = sf.path,
                      .enable_lifecycle = lifecycle,
                      .start_time_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000,
                      .ctx = &st,
                      .targets_json = http_targets,
                      .metrics = http_metrics,
                      .metadata_json = http_metadata,
                      .config_yaml_now = http_config_yaml,
                      .reload = http_reload,
                      .admin = http_admin,
                      .rules_json = http_rules,
                      .alerts_json = http_alerts,
                      .alertmanager = http_alertmanager,
                      .security = security};
    /* The rules start before the web server, whose hooks read them. */
    ruler_options ro2 = {.db = db,
                         .query = {.lookback_ms = lookback, .max_samples = ms, .timeout_s = (double)timeout / 1000},
                         .resend_delay_ms = resend_delay,
                         .for_grace_period_ms = grace_period ? grace_period : -1,
                         .outage_tolerance_ms = outage_tolerance};
    char url[512];
    const char *listen_colon = strrchr(listen, ':');
    unsigned listen_port = listen_colon ? (unsigned)strtoul(listen_colon + 1, NULL, 10) : 9090;
    if (external_url && *external_url) snprintf(url, sizeof url, "%s", external_url);
    else default_external_url(listen_port, url, sizeof url);
    /* As Prometheus: links are made by appending paths to it. */
    for (size_t ul = strlen(url); ul > 0 && url[ul - 1] == '/'; ul--) url[ul - 1] = 0;
    ro2.external_url = url;
    ro2.notify = on_alerts;
    ro2.notify_ctx = &st;
    /* Silences and the notifier's alerts and log come back from storage
     * before the first rule evaluation can send anything. */
    silences_options sio = {.db = db};
    notifier_options no = {.db = db, .external_url = url, .user_agent = "promlite/" PACKAGE_VERSION};
    if (silences_open(&sio, &st.silences, &err)) goto failed;
    no.silences = st.silences;
    if (notifier_open(&no, &st.notifier, &err)) goto failed;
    st.forwarder = forwarder_new("promlite/" PACKAGE_VERSION, 0);
    apply_alerting(&st, alerting);
    alerting = NULL;
    st.ruler = ruler_new(&ro2);
    ruler_apply(st.ruler, rules, &first_rules.c);
    rules = NULL;
    if (web_start(&wo, &web, &err)) goto failed;
    const char *colon = strrchr(listen, ':');
    char host[256];
    snprintf(host, sizeof host, "%.*s", colon ? (int)(colon - listen) : 0, listen);
    int local = !strcmp(host, "127.0.0.1") || !strcmp(host, "localhost") || !strcmp(host, "[::1]");
    int tls = security && security->cert_file;
    int auth = security && (security->nusers || security->ntokens);
    fprintf(stderr, "promlite server: listening on %s://%s:%u%s%s\n", tls ? "https" : "http", host[0] ? host : "0.0.0.0",
            web_port(web), local ? " (only this machine can connect; set --web.listen-address to serve others)" : "",
            auth ? " with authentication" : (!local ? " WITHOUT authentication: anyone who can connect can read and query" : ""));
    fflush(stderr);

    int64_t last_silence_gc = wall_ms();
    for (;;) {
        struct timespec wait = {1, 0};
        int sig = sigtimedwait(&set, NULL, &wait);
        if (wall_ms() - last_silence_gc > 15 * 60000) {
            last_silence_gc = wall_ms();
            if (silences_gc(st.silences, last_silence_gc, &err) < 0)
                fprintf(stderr, "promlite server: removing old silences: %s\n", err.msg);
        }
        if (sig == SIGINT || sig == SIGTERM) {
            fprintf(stderr, "promlite server: received %s, shutting down\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
            break;
        }
        if (sig == SIGHUP) reload(&st);
        if (web_quit_requested(web)) {
            fprintf(stderr, "promlite server: shutdown requested over HTTP\n");
            break;
        }
    }
    status = 0;
    goto out;
failed:
    fprintf(stderr, "promlite server: %s\n", err.msg);
out:
    if (web) web_stop(web);
    webconfig_free(security);
    ruler_free(st.ruler);
    rule_set_free(rules);
    forwarder_free(st.forwarder);
    notifier_close(st.notifier);
    amconfig_free(alerting);
    silences_close(st.silences);
    if (st.scrape) scrape_stop(st.scrape);
    registry_close(st.reg);
    config_free(first.cfg);
    free(first.yaml);
    free(st.yaml);
    rules_context_free(&first_rules);
    pthread_cond_destroy(&st.done);
    pthread_mutex_destroy(&st.mu);
    if (db && cli_close_storage("server", db)) status = 1;
    return status;
}
