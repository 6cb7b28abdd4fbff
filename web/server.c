/*
 * server.c - the libmicrohttpd glue of the HTTP server (see server.h):
 * daemon start and stop, collecting a request's parameters from the query
 * string and a form-encoded body, size limits, and sending the response
 * that web/api.c built.
 *
 * libmicrohttpd calls the access handler several times per request: once
 * with the headers (we allocate the request), then with body chunks (fed
 * to a post processor, which decodes application/x-www-form-urlencoded),
 * then once more with no data (we run the handler and queue the reply).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "web/web_int.h"

#if MHD_VERSION < 0x00097002
typedef int MHD_RESULT_T;
#else
typedef enum MHD_Result MHD_RESULT_T;
#endif

typedef struct {
    web_request req;
    struct MHD_PostProcessor *post;
    size_t body_bytes;
    int too_large;
} conn_state;

const char *web_param_get(const web_request *r, const char *key) {
    for (size_t i = 0; i < r->nparams; i++)
        if (!strcmp(r->params[i].key, key)) return r->params[i].value;
    return NULL;
}

size_t web_param_all(const web_request *r, const char *key, const char **out, size_t max) {
    size_t n = 0;
    for (size_t i = 0; i < r->nparams && n < max; i++)
        if (!strcmp(r->params[i].key, key)) out[n++] = r->params[i].value;
    return n;
}

static void add_param(web_request *r, const char *key, const char *value, size_t vlen) {
    if (r->nparams == WEB_MAX_PARAMS) {
        r->too_many_params = 1;
        return;
    }
    r->params[r->nparams].key = xstrndup(key, strlen(key));
    r->params[r->nparams].value = xstrndup(value ? value : "", value ? vlen : 0);
    r->nparams++;
}

static MHD_RESULT_T collect_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
    (void)kind;
    add_param(cls, key, value, value ? strlen(value) : 0);
    return MHD_YES;
}

/* Form fields may arrive in pieces (off > 0): append to the last value. */
static MHD_RESULT_T collect_post(void *cls, enum MHD_ValueKind kind, const char *key, const char *filename,
                                 const char *content_type, const char *transfer_encoding, const char *data,
                                 uint64_t off, size_t size) {
    (void)kind, (void)filename, (void)content_type, (void)transfer_encoding;
    web_request *r = cls;
    if (off > 0 && r->nparams && !strcmp(r->params[r->nparams - 1].key, key)) {
        web_param *p = &r->params[r->nparams - 1];
        size_t old = strlen(p->value);
        p->value = xrealloc(p->value, old + size + 1);
        memcpy(p->value + old, data, size);
        p->value[old + size] = 0;
        return MHD_YES;
    }
    add_param(r, key, data, size);
    return MHD_YES;
}

static void free_state(conn_state *cs) {
    if (!cs) return;
    if (cs->post) MHD_destroy_post_processor(cs->post);
    for (size_t i = 0; i < cs->req.nparams; i++) {
        free(cs->req.params[i].key);
        free(cs->req.params[i].value);
    }
    free((char *)cs->req.path);
    free(cs);
}

static void request_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode t) {
    (void)cls, (void)c, (void)t;
    free_state(*con_cls);
    *con_cls = NULL;
}

/* Hands the body over to libmicrohttpd (no copy: an answer can be many
 * MiB); it frees the buffer when sent. */
static MHD_RESULT_T send_response(struct MHD_Connection *c, web_response *resp) {
    struct MHD_Response *r;
    if (resp->body.data) {
        r = MHD_create_response_from_buffer(resp->body.len, resp->body.data, MHD_RESPMEM_MUST_FREE);
        if (r) resp->body = (buf){0};
    } else {
        r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    }
    if (!r) return MHD_NO;
    MHD_add_response_header(r, "Content-Type", resp->content_type ? resp->content_type : "application/json");
    MHD_RESULT_T ok = MHD_queue_response(c, resp->status, r);
    MHD_destroy_response(r);
    return ok;
}

static void error_body(web_response *resp, unsigned status, const char *type, const char *msg) {
    resp->status = status;
    resp->content_type = "application/json";
    buf_reset(&resp->body);
    buf_printf(&resp->body, "{\"status\":\"error\",\"errorType\":\"%s\",\"error\":\"%s\"}", type, msg);
}

static MHD_RESULT_T on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                               const char *version, const char *data, size_t *size, void **con_cls) {
    (void)version;
    web_server *srv = cls;
    conn_state *cs = *con_cls;
    if (!cs) {
        cs = xcalloc(1, sizeof *cs);
        cs->req.srv = srv;
        cs->req.method = method;
        cs->req.path = xstrndup(url, strlen(url));
        MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, collect_arg, &cs->req);
        if (!strcmp(method, "POST")) cs->post = MHD_create_post_processor(c, 64 * 1024, collect_post, &cs->req);
        *con_cls = cs;
        return MHD_YES;
    }
    if (*size) {
        cs->body_bytes += *size;
        if (cs->body_bytes > WEB_MAX_BODY) cs->too_large = 1;
        else if (cs->post) MHD_post_process(cs->post, data, *size);
        *size = 0;
        return MHD_YES;
    }
    web_response resp = {.status = 200, .content_type = "application/json"};
    int family = WEB_H_OTHER;
    if (cs->too_large) {
        error_body(&resp, 413, "bad_data", "request body too large");
    } else if (cs->req.too_many_params) {
        error_body(&resp, 400, "bad_data", "too many parameters");
    } else {
        family = api_handle(&cs->req, &resp);
    }
    unsigned cls_idx = resp.status / 100 < 6 ? resp.status / 100 : 5;
    atomic_fetch_add(&srv->requests[family][cls_idx], 1);
    MHD_RESULT_T rc = send_response(c, &resp);
    buf_free(&resp.body);
    return rc;
}

/* Splits "host:port" ("[v6]:port" too); host may be empty (all). */
static int parse_listen(const char *addr, struct sockaddr_storage *ss, socklen_t *len, errbuf *err) {
    const char *colon = strrchr(addr, ':');
    if (!colon) return errf(err, "invalid listen address \"%s\": missing port", addr);
    char host[256];
    size_t hl = (size_t)(colon - addr);
    if (hl >= sizeof host) return errf(err, "invalid listen address \"%s\"", addr);
    memcpy(host, addr, hl);
    host[hl] = 0;
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port < 0 || port > 65535 || end == colon + 1) return errf(err, "invalid port in listen address \"%s\"", addr);
    memset(ss, 0, sizeof *ss);
    if (host[0] == '[') {
        size_t l = strlen(host);
        if (l < 2 || host[l - 1] != ']') return errf(err, "invalid listen address \"%s\"", addr);
        host[l - 1] = 0;
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        if (inet_pton(AF_INET6, host + 1, &s6->sin6_addr) != 1) return errf(err, "invalid IPv6 address in \"%s\"", addr);
        *len = sizeof *s6;
        return 0;
    }
    struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
    s4->sin_family = AF_INET;
    s4->sin_port = htons((uint16_t)port);
    if (!host[0] || !strcmp(host, "0.0.0.0")) s4->sin_addr.s_addr = htonl(INADDR_ANY);
    else if (!strcmp(host, "localhost")) s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    else if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
        return errf(err, "invalid listen address \"%s\": use an IP address and a port", addr);
    *len = sizeof *s4;
    return 0;
}

int web_start(const web_options *o, web_server **out, errbuf *err) {
    struct sockaddr_storage ss;
    socklen_t slen;
    if (parse_listen(o->listen_address, &ss, &slen, err)) return -1;
    web_server *s = xcalloc(1, sizeof *s);
    s->opts = *o;
    unsigned threads = o->threads ? o->threads : 4;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
#ifdef MHD_USE_EPOLL
    flags |= MHD_USE_EPOLL;
#endif
    if (ss.ss_family == AF_INET6) flags |= MHD_USE_IPv6;
    errno = 0;
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_THREAD_POOL_SIZE, threads, MHD_OPTION_NOTIFY_COMPLETED, request_completed, NULL,
        MHD_OPTION_CONNECTION_LIMIT, 512u, MHD_OPTION_CONNECTION_TIMEOUT, 120u,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(256 * 1024), MHD_OPTION_END);
    if (!d) {
        int e = errno;
        free(s);
        return errf(err, "cannot listen on %s: %s", o->listen_address,
                    e ? strerror(e) : "address in use or not available");
    }
    s->daemon = d;
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : 0;
    *out = s;
    return 0;
}

unsigned web_port(const web_server *s) { return s->port; }
int web_quit_requested(const web_server *s) { return atomic_load(&((web_server *)s)->quit); }

void web_stop(web_server *s) {
    if (!s) return;
    MHD_stop_daemon(s->daemon);
    free(s);
}
