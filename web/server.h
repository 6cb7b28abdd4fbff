/*
 * server.h - promlite's HTTP server: Prometheus's HTTP API (web/api.c) on
 * libmicrohttpd.
 *
 * libmicrohttpd runs a fixed pool of threads, each with its own poll loop;
 * a request is handled start to finish on one of them, so a slow query
 * occupies one thread and never the others, nor the storage writer.
 * Requests and their bodies are bounded in size (an oversized one gets
 * 413), and every handler answers through the same JSON envelopes as
 * Prometheus ({"status":"success","data":...} or {"status":"error",
 * "errorType":...,"error":...} with Prometheus's status codes).
 *
 * Ownership: web_start() returns a server freed by web_stop(), which waits
 * for running requests.  The server reads the tsdb and options it was given
 * and owns nothing else of the caller's.
 * Security: with o->security (see web/webconfig.h) every request must
 * authenticate (basic auth or a bearer token; else 401 with
 * WWW-Authenticate: Basic) and the server speaks HTTPS when the web config
 * has a certificate and key.
 * Threads: web_start/web_stop on the main thread; handlers run on the
 * pool's threads and only read shared state (the tsdb through readers, the
 * options, counters updated atomically).
 */
#ifndef PROMLITE_WEB_SERVER_H
#define PROMLITE_WEB_SERVER_H

#include <stdint.h>

#include "common/util.h"
#include "query/engine.h"
#include "tsdb/tsdb.h"
#include "web/webconfig.h"

typedef struct web_options {
    const char *listen_address;  /* "host:port"; port 0 picks a free one    */
    unsigned threads;            /* request threads; 0 = 4                  */
    tsdb *db;
    pq_options query;            /* engine limits                           */
    double query_timeout_s;      /* --query.timeout                          */
    const char *config_yaml;     /* /api/v1/status/config; may be NULL      */
    const char *const *flags;    /* name, value pairs for status/flags;
                                    NULL-terminated                        */
    const char *storage_path;    /* for status pages                         */
    int enable_lifecycle;        /* --web.enable-lifecycle                    */
    int64_t start_time_ms;       /* process start, for runtimeinfo           */
    /* --web.config.file, loaded by webconfig_load(); NULL = no TLS, no
     * authentication.  Read by the server, owned by the caller, who frees
     * it (webconfig_free) after web_stop(). */
    const web_security *security;
    /* Hooks into the rest of the server, all optional; each runs on a
     * request thread and must be safe there.  ctx is passed back. */
    void *ctx;
    void (*targets_json)(void *ctx, buf *out, const char *state); /* data of /api/v1/targets */
    void (*metrics)(void *ctx, buf *out);                          /* more of /metrics        */
    void (*metadata_json)(void *ctx, buf *out, const char *metric, long limit); /* /api/v1/metadata */
    void (*rules_json)(void *ctx, buf *out, const char *type);     /* data of /api/v1/rules   */
    void (*alerts_json)(void *ctx, buf *out);                      /* data of /api/v1/alerts  */
    const char *(*config_yaml_now)(void *ctx, buf *copy);          /* the running config's text */
    /* Reloads the configuration and waits for the outcome: 0, or -1 with
     * err set (the running configuration stays). */
    int (*reload)(void *ctx, errbuf *err);
    /* The target management API (ingest/registry.h): method, the path
     * after "/api/v1/admin/", the JSON body and two query parameters;
     * appends the JSON answer to out and returns the HTTP status.  Only
     * called for clients with admin rights.  NULL: those paths are 404. */
    unsigned (*admin)(void *ctx, const char *method, const char *path, const char *body, size_t body_len,
                      const char *job, int cascade, buf *out);
    /* Alertmanager's API v2 (alerts, silences, status): method, the path
     * after "/api/v2/", every query parameter as name, value pairs, and
     * the JSON body; appends the answer (JSON) to out and returns the HTTP
     * status.  Requests that change something (POST, DELETE) are only
     * passed on for clients with admin rights.  NULL: those paths are 404. */
    unsigned (*alertmanager)(void *ctx, const char *method, const char *path, const char *const *params,
                             size_t nparams, const char *body, size_t body_len, buf *out);
} web_options;

typedef struct web_server web_server;

/* Starts listening.  Returns 0 with *out set, or -1 with err naming the
 * address and the reason (address in use, bad address), or the TLS file at
 * fault (unreadable, not PEM, key not matching the certificate) when
 * o->security asks for HTTPS. */
int web_start(const web_options *o, web_server **out, errbuf *err);
/* The port actually bound (useful with port 0). */
unsigned web_port(const web_server *s);
/* Whether POST /-/quit asked the server to stop (lifecycle API). */
int web_quit_requested(const web_server *s);
void web_stop(web_server *s);

#endif
