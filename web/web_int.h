/*
 * web_int.h - internals shared by web/server.c (libmicrohttpd glue) and
 * web/api.c (the handlers).  Not for use outside web/.
 */
#ifndef PROMLITE_WEB_INT_H
#define PROMLITE_WEB_INT_H

#include <stdatomic.h>

#include "web/server.h"

#define WEB_MAX_BODY (8u << 20)      /* request bodies (form posts)          */
#define WEB_MAX_PARAMS 1024

typedef struct {
    char *key, *value;
} web_param;

/* One request: its method, path and parameters (query string and, for a
 * form-encoded POST, the body), all owned by the request. */
typedef struct {
    web_server *srv;
    const char *method;
    const char *path;
    web_param params[WEB_MAX_PARAMS];
    size_t nparams;
    int too_many_params;
    /* Rights of the authenticated client (web/webconfig.h): 1 when it may
     * use admin endpoints (/-/reload, /-/quit, /api/v1/admin/...).
     * Handlers that need them call web_require_admin(). */
    int admin;
    /* The raw body of a request that is not a form (the JSON of
     * /api/v1/admin/...); empty otherwise. */
    buf body;
} web_request;

typedef struct {
    unsigned status;
    const char *content_type;
    buf body;
    int head_only;
    int auth_challenge;              /* send WWW-Authenticate: Basic        */
} web_response;

/* The handler families counted in promlite_http_requests_total. */
enum { WEB_H_QUERY, WEB_H_QUERY_RANGE, WEB_H_SERIES, WEB_H_LABELS, WEB_H_LABEL_VALUES, WEB_H_STATUS,
       WEB_H_METRICS, WEB_H_LIFECYCLE, WEB_H_ADMIN, WEB_H_OTHER, WEB_H_COUNT };

struct web_server {
    web_options opts;
    void *daemon;                    /* struct MHD_Daemon *                */
    unsigned port;
    atomic_int quit;
    /* requests by handler family and status class (2xx, 4xx, 5xx) */
    atomic_ulong requests[WEB_H_COUNT][6];
    atomic_ulong query_count;
    atomic_ullong query_micros;      /* summed query time, for the summary  */
    atomic_ulong unauthorized;       /* requests refused with 401           */
    webauth_cache *auth_cache;       /* bcrypt outcomes; NULL without auth  */
    char *tls_cert, *tls_key;        /* PEM text, kept while the daemon runs */
};

/* First value of a parameter, or NULL. */
const char *web_param_get(const web_request *r, const char *key);
/* All values of a repeated parameter (match[]); returns the count. */
size_t web_param_all(const web_request *r, const char *key, const char **out, size_t max);

/* api.c: returns 0 when the request has admin rights, else answers 403
 * and returns -1.  For endpoints that change the server's state. */
int web_require_admin(const web_request *req, web_response *resp);

/* api.c: routes a request; fills resp and returns the handler family. */
int api_handle(web_request *req, web_response *resp);

#endif
