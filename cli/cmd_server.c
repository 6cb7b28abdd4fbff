/*
 * cmd_server.c - `promlite server`: opens the data folder, serves
 * Prometheus's HTTP API, and runs until SIGINT or SIGTERM (or POST /-/quit
 * with --web.enable-lifecycle), then closes the storage cleanly.
 *
 * Signals are blocked in every thread and taken synchronously by the main
 * thread with sigtimedwait(), so no handler runs in the middle of a query
 * or a storage write; the main thread also does the periodic storage
 * maintenance (retention) between waits.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "common/timeutil.h"
#include "web/server.h"

/* Reads a whole small file (the config, for /api/v1/status/config). */
static char *read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    buf b = {0};
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0 && b.len < (4u << 20)) buf_append(&b, chunk, n);
    fclose(f);
    buf_append(&b, "", 1);
    return (char *)b.data;
}

int cmd_server(int argc, char **argv) {
    storage_flags sf;
    const char *listen = NULL, *config_file = NULL, *max_samples = NULL;
    int64_t lookback = 0, timeout = 0;
    int lifecycle = 0;
    flag_def flags[] = {
        STORAGE_FLAG_DEFS(sf),
        {"config.file", FLAG_STRING, &config_file, "prometheus.yml", "Configuration file path.", NULL, 0},
        {"web.listen-address", FLAG_STRING, &listen, "127.0.0.1:9090",
         "Address to listen on for the API and UI (host:port; port 0 picks a free port).", NULL, 0},
        {"web.enable-lifecycle", FLAG_BOOL, &lifecycle, NULL, "Enable shutdown and reload via HTTP request.", NULL, 0},
        {"query.lookback-delta", FLAG_DURATION, &lookback, "5m",
         "The maximum lookback duration for retrieving metrics during expression evaluations.", NULL, 0},
        {"query.timeout", FLAG_DURATION, &timeout, "2m", "Maximum time a query may take before being aborted.", NULL, 0},
        {"query.max-samples", FLAG_STRING, &max_samples, "50000000",
         "Maximum number of samples a single query can load into memory.", NULL, 0},
        {0},
    };
    command cmd = {"server", NULL, "Run the monitoring server: storage and the HTTP API.",
                   "Serves Prometheus's HTTP API (/api/v1/query, query_range, series, labels, status pages,\n"
                   "/metrics, /-/healthy, /-/ready) over the data folder until SIGINT or SIGTERM.",
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
    /* Block the signals before any thread starts, so that all inherit the mask. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    tsdb *db = cli_open_storage("server", &sf, 0);
    if (!db) return 1;
    char *config_yaml = read_file(config_file);
    char lb[32], to[32];
    format_duration(lookback, lb, sizeof lb);
    format_duration(timeout, to, sizeof to);
    const char *flag_pairs[] = {"config.file", config_file, "storage.tsdb.path", sf.path, "web.listen-address", listen,
                                "query.lookback-delta", lb, "query.timeout", to, "query.max-samples", max_samples,
                                "web.enable-lifecycle", lifecycle ? "true" : "false", NULL, NULL};
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    web_options wo = {.listen_address = listen,
                      .db = db,
                      .query = {.lookback_ms = lookback, .max_samples = ms},
                      .query_timeout_s = (double)timeout / 1000,
                      .config_yaml = config_yaml,
                      .flags = flag_pairs,
                      .storage_path = sf.path,
                      .enable_lifecycle = lifecycle,
                      .start_time_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000};
    web_server *web;
    errbuf err;
    if (web_start(&wo, &web, &err)) {
        fprintf(stderr, "promlite server: %s\n", err.msg);
        free(config_yaml);
        cli_close_storage("server", db);
        return 1;
    }
    const char *colon = strrchr(listen, ':');
    char host[256];
    snprintf(host, sizeof host, "%.*s", colon ? (int)(colon - listen) : 0, listen);
    int local = !strcmp(host, "127.0.0.1") || !strcmp(host, "localhost") || !strcmp(host, "[::1]");
    fprintf(stderr, "promlite server: listening on http://%s:%u%s\n", host[0] ? host : "0.0.0.0", web_port(web),
            local ? " (only this machine can connect; set --web.listen-address to serve others)" : "");
    fflush(stderr);

    double next_retention = mono_seconds();
    for (;;) {
        if (mono_seconds() >= next_retention) {
            if (tsdb_apply_retention(db, &err) < 0) fprintf(stderr, "promlite server: retention: %s\n", err.msg);
            next_retention = mono_seconds() + 3600;
        }
        struct timespec wait = {1, 0};
        int sig = sigtimedwait(&set, NULL, &wait);
        if (sig == SIGINT || sig == SIGTERM) {
            fprintf(stderr, "promlite server: received %s, shutting down\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
            break;
        }
        if (sig == SIGHUP) fprintf(stderr, "promlite server: SIGHUP: nothing to reload yet\n");
        if (web_quit_requested(web)) {
            fprintf(stderr, "promlite server: shutdown requested over HTTP\n");
            break;
        }
    }
    web_stop(web);
    free(config_yaml);
    return cli_close_storage("server", db);
}
