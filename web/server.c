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
 *
 * Security (web/webconfig.h).  The first call also authenticates the
 * request from its Authorization header and records its rights in
 * web_request.admin; a refused request gets no post processor, its body is
 * drained unread, and the last call answers 401 with WWW-Authenticate:
 * Basic (counted in promlite_http_unauthorized_requests_total).  For
 * HTTPS, web_start() reads the certificate and key named by the web
 * config, checks them with OpenSSL (so that a bad file is reported by name
 * rather than by libmicrohttpd's generic failure) and hands the PEM text to
 * libmicrohttpd's GnuTLS backend, which must outlive the daemon.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
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
    int unauthorized;
    int raw_body;                    /* keep the body as it is (JSON) */
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
    buf_free(&cs->req.body);
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
    if (resp->auth_challenge) MHD_add_response_header(r, "WWW-Authenticate", "Basic");
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
        *con_cls = cs;
        web_role role = webconfig_authenticate(srv->opts.security, srv->auth_cache,
                                               MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization"));
        if (role == WEB_ROLE_NONE) {
            cs->unauthorized = 1;
            return MHD_YES;
        }
        cs->req.admin = role == WEB_ROLE_ADMIN;
        MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, collect_arg, &cs->req);
        /* The admin API and Alertmanager's API take JSON bodies whatever
         * their Content-Type says (curl -d sends a form type); everything
         * else takes forms. */
        cs->raw_body = !strncmp(url, "/api/v1/admin/", 14) || !strncmp(url, "/api/v2/", 8);
        if (!strcmp(method, "POST") && !cs->raw_body)
            cs->post = MHD_create_post_processor(c, 64 * 1024, collect_post, &cs->req);
        *con_cls = cs;
        return MHD_YES;
    }
    if (*size) {
        cs->body_bytes += *size;
        if (cs->body_bytes > WEB_MAX_BODY) cs->too_large = 1;
        else if (cs->raw_body) buf_append(&cs->req.body, data, *size);
        else if (cs->post) MHD_post_process(cs->post, data, *size);
        *size = 0;
        return MHD_YES;
    }
    web_response resp = {.status = 200, .content_type = "application/json"};
    int family = WEB_H_OTHER;
    if (cs->unauthorized) {
        resp.status = 401;
        resp.content_type = "text/plain; charset=utf-8";
        resp.auth_challenge = 1;
        buf_append(&resp.body, "Unauthorized\n", 13);
        atomic_fetch_add(&srv->unauthorized, 1);
    } else if (cs->too_large) {
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

/* Reads a PEM file of at most 1 MiB for TLS; what names the setting. */
static char *read_pem(const char *what, const char *path, errbuf *err) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        errf(err, "cannot read %s %s: %s", what, path, strerror(errno));
        return NULL;
    }
    buf b = {0};
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0 && b.len <= (1u << 20)) buf_append(&b, chunk, n);
    int bad = ferror(f);
    fclose(f);
    if (bad || b.len > (1u << 20)) {
        errf(err, "cannot read %s %s: %s", what, path, bad ? "read error" : "larger than 1 MiB");
        buf_free(&b);
        return NULL;
    }
    buf_append(&b, "", 1);
    return (char *)b.data;
}

/* Loads and checks the certificate and key of the web config: both PEM,
 * the key matching the certificate.  Sets s->tls_cert and s->tls_key. */
static int load_tls(web_server *s, const web_security *sec, errbuf *err) {
    if (!MHD_is_feature_supported(MHD_FEATURE_TLS))
        return errf(err, "%s: tls_server_config needs HTTPS, but this libmicrohttpd was built without TLS support",
                    sec->path);
    s->tls_cert = read_pem("cert_file", sec->cert_file, err);
    if (!s->tls_cert) return -1;
    s->tls_key = read_pem("key_file", sec->key_file, err);
    if (!s->tls_key) return -1;
    int rc = 0;
    BIO *cb = BIO_new_mem_buf(s->tls_cert, -1), *kb = BIO_new_mem_buf(s->tls_key, -1);
    X509 *cert = cb ? PEM_read_bio_X509(cb, NULL, NULL, NULL) : NULL;
    EVP_PKEY *key = kb ? PEM_read_bio_PrivateKey(kb, NULL, NULL, (void *)"") : NULL;
    if (!cert) rc = errf(err, "cert_file %s: no PEM certificate found", sec->cert_file);
    else if (!key) rc = errf(err, "key_file %s: no unencrypted PEM private key found", sec->key_file);
    else if (X509_check_private_key(cert, key) != 1)
        rc = errf(err, "key_file %s does not match the certificate of cert_file %s", sec->key_file, sec->cert_file);
    X509_free(cert);
    EVP_PKEY_free(key);
    BIO_free(cb);
    BIO_free(kb);
    return rc;
}

/* Frees what web_start() allocated besides the daemon. */
static void free_server(web_server *s) {
    webauth_cache_free(s->auth_cache);
    free(s->tls_cert);
    if (s->tls_key) {
        OPENSSL_cleanse(s->tls_key, strlen(s->tls_key));
        free(s->tls_key);
    }
    free(s);
}

int web_start(const web_options *o, web_server **out, errbuf *err) {
    struct sockaddr_storage ss;
    socklen_t slen;
    if (parse_listen(o->listen_address, &ss, &slen, err)) return -1;
    web_server *s = xcalloc(1, sizeof *s);
    s->opts = *o;
    const web_security *sec = o->security;
    /* exporter-toolkit's cache holds 100 outcomes. */
    if (webconfig_auth_required(sec)) s->auth_cache = webauth_cache_new(100);
    struct MHD_OptionItem tls_opts[4] = {{MHD_OPTION_END, 0, NULL}};
    if (sec && sec->cert_file) {
        if (load_tls(s, sec, err)) {
            free_server(s);
            return -1;
        }
        /* TLS 1.2 and newer, as exporter-toolkit's default min_version. */
        tls_opts[0] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, s->tls_cert};
        tls_opts[1] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, s->tls_key};
        tls_opts[2] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)"NORMAL:-VERS-TLS1.0:-VERS-TLS1.1"};
        tls_opts[3] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    }
    unsigned threads = o->threads ? o->threads : 4;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
#ifdef MHD_USE_EPOLL
    flags |= MHD_USE_EPOLL;
#endif
    if (ss.ss_family == AF_INET6) flags |= MHD_USE_IPv6;
    if (s->tls_cert) flags |= MHD_USE_TLS;
    errno = 0;
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_THREAD_POOL_SIZE, threads, MHD_OPTION_NOTIFY_COMPLETED, request_completed, NULL,
        MHD_OPTION_CONNECTION_LIMIT, 512u, MHD_OPTION_CONNECTION_TIMEOUT, 120u,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(256 * 1024), MHD_OPTION_ARRAY, tls_opts, MHD_OPTION_END);
    if (!d) {
        int e = errno, tls = s->tls_cert != NULL;
        free_server(s);
        if (tls)
            return errf(err, "cannot serve HTTPS on %s with cert_file %s and key_file %s: %s", o->listen_address,
                        sec->cert_file, sec->key_file,
                        e ? strerror(e) : "address in use, or the TLS library refused the certificate or key");
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
    free_server(s);
}
