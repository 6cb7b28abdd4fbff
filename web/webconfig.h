/*
 * webconfig.h - the HTTP server's security settings: Prometheus's web
 * configuration file (--web.config.file, exporter-toolkit's format as
 * Prometheus 2.42 reads it) plus promlite's `bearer_tokens`, and the
 * authentication of one request against them.
 *
 *     tls_server_config:            # HTTPS when cert_file and key_file are set
 *       cert_file: server.crt
 *       key_file: server.key
 *     http_server_config:
 *       http2: true                 # accepted, ignored (libmicrohttpd is HTTP/1.1)
 *     basic_auth_users:             # user: bcrypt hash
 *       alice: $2y$10$...
 *     bearer_tokens:                # promlite's extension
 *       - token: s3cr3t             # or token_file: grafana.token
 *         role: read                # read (default) or admin
 *
 * Loading checks every key the way exporter-toolkit's strict YAML decoding
 * does ("field foo not found in type web.Config"); keys that exporter-toolkit
 * has but promlite does not implement (client_ca_file, cipher_suites,
 * min_version, headers, ...) are refused by name, never ignored.  Messages
 * are "FILE:LINE:COL: reason".  Relative file names (cert_file, key_file,
 * token_file) are resolved against the folder of the web config file, as
 * exporter-toolkit does.  Token files are read at load time; the TLS files
 * are read by web_start() (web/server.c), which names the file at fault.
 *
 * Rights.  With no users and no tokens configured, nothing is required and
 * every request has admin rights (Prometheus without a web config).  Else a
 * request needs valid basic-auth credentials or a bearer token.  Read tokens
 * grant read rights, admin tokens admin rights; basic-auth users have admin
 * rights only while no bearer token is configured (then they are readers).
 * docs/security.md has the rules for users.
 *
 * Ownership: webconfig_load()/webconfig_parse() return a web_security that
 * owns all its strings; webconfig_free() releases it.  A webauth_cache is
 * created by webauth_cache_new() and freed by webauth_cache_free().
 * Threads: a loaded web_security is read-only, so any number of threads may
 * authenticate against it; a webauth_cache has its own lock.
 */
#ifndef PROMLITE_WEBCONFIG_H
#define PROMLITE_WEBCONFIG_H

#include <stddef.h>

#include "common/util.h"

typedef enum { WEB_ROLE_NONE = 0, WEB_ROLE_READ = 1, WEB_ROLE_ADMIN = 2 } web_role;

/* One basic_auth_users entry. */
typedef struct {
    char *name;
    char *hash;        /* bcrypt: $2a$, $2b$ or $2y$ */
    int line;
} web_user;

/* One bearer_tokens entry.  Only the SHA-256 digest of the token is kept:
 * comparisons take the same time whatever the token's length and content. */
typedef struct {
    unsigned char digest[32];
    web_role role;
    int line;
} web_token;

typedef struct web_security {
    char *path;                 /* the file, for messages */
    web_user *users;
    size_t nusers;
    web_token *tokens;
    size_t ntokens;
    /* tls_server_config: resolved paths; both NULL when TLS is off. */
    char *cert_file, *key_file;
    int http2;                  /* http_server_config.http2, default 1; unused */
} web_security;

/* Reads and checks a web config file (at most 1 MiB).  Returns 0 and sets
 * *out (free with webconfig_free), or -1 with err "FILE:LINE:COL: reason". */
int webconfig_load(const char *path, web_security **out, errbuf *err);

/* The same from text in memory; name is used in messages and its folder
 * resolves relative paths (token files are read relative to it). */
int webconfig_parse(const char *text, size_t len, const char *name, web_security **out, errbuf *err);

void webconfig_free(web_security *s);

/* Whether requests must carry credentials (users or tokens configured). */
int webconfig_auth_required(const web_security *s);

/* Whether password matches a bcrypt hash ($2a$/$2b$/$2y$), by crypt_r(). */
int webconfig_bcrypt_verify(const char *hash, const char *password);

/* A bounded cache of bcrypt outcomes, keyed by SHA-256(user, hash,
 * password), so that a dashboard's many requests cost one bcrypt run. */
typedef struct webauth_cache webauth_cache;
webauth_cache *webauth_cache_new(size_t capacity);
void webauth_cache_free(webauth_cache *c);
/* Counts of bcrypt verifications actually run (for tests). */
unsigned long webauth_cache_misses(webauth_cache *c);

/* The rights an Authorization header value gives ("Basic ..." or
 * "Bearer ..."; NULL when the header is absent): WEB_ROLE_NONE when
 * refused.  Without users and tokens every request gets WEB_ROLE_ADMIN.
 * cache may be NULL (no caching). */
web_role webconfig_authenticate(const web_security *s, webauth_cache *cache, const char *authorization);

#endif
