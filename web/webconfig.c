/*
 * webconfig.c - loads the web config file (see webconfig.h) and
 * authenticates requests against it.
 *
 * Design.  The file is small and its schema shallow, so libyaml's document
 * API parses it and the decoder walks libyaml's nodes directly (no copy
 * into a tree of our own as ingest/config.c makes for prometheus.yml, whose
 * node API is internal to that module).  The walk follows the approach of
 * ingest/config.c: plain scalars get the tag Go's yaml.v2 would give them
 * (so type errors read "cannot unmarshal !!int `5` into web.TLSStruct"),
 * each mapping's keys are checked against its type's fields first (unknown
 * -> "field x not found in type T", known to exporter-toolkit but not
 * implemented -> "\"x\" is not supported by promlite", repeated -> "already
 * set"), and the first problem stops the load with "FILE:LINE:COL: reason".
 * Aliases are resolved by libyaml to shared nodes; the walk is at most
 * four levels deep, so alias expansion cannot blow up.
 *
 * Authentication.  Basic auth verifies the password with crypt_r() (bcrypt
 * in libxcrypt), which is slow by design; outcomes are cached, as
 * exporter-toolkit does, under SHA-256(user, hash, password) in a small
 * table with round-robin eviction, guarded by a mutex.  An unknown user
 * still costs one bcrypt run (against the first user's hash) so that
 * timing does not reveal which users exist.  Bearer tokens are compared by
 * their SHA-256 digests with CRYPTO_memcmp (constant time).
 */
#include <crypt.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <yaml.h>

#include "web/webconfig.h"

#define WEBCONFIG_MAX_FILE_BYTES (1u << 20)
#define WEBCONFIG_MAX_TOKEN_FILE (64u << 10)

/* ------------------------------------------------------------ helpers */

typedef struct {
    const char *name;    /* for messages */
    char *dir;           /* folder relative paths are resolved in */
    yaml_document_t *doc;
    errbuf *err;
    web_security *sec;
} loader;

/* Sets "NAME:LINE:COL: message" at node `at` (or "NAME: message") and
 * returns -1. */
__attribute__((format(printf, 3, 4))) static int fail(loader *L, const yaml_node_t *at, const char *fmt, ...) {
    char msg[sizeof L->err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (at)
        return errf(L->err, "%s:%zu:%zu: %s", L->name, at->start_mark.line + 1, at->start_mark.column + 1, msg);
    return errf(L->err, "%s: %s", L->name, msg);
}

static const char *const yaml11_true[] = {"y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON", NULL};
static const char *const yaml11_false[] = {"n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF", NULL};

static int in_list(const char *s, const char *const *list) {
    for (; *list; list++)
        if (!strcmp(s, *list)) return 1;
    return 0;
}

/* Whether s is a plain integer or float as YAML 1.1 reads one (a close
 * approximation of yaml.v2's rules, enough for type messages). */
static int looks_numeric(const char *s, int *is_float) {
    const char *p = s;
    *is_float = 0;
    if (*p == '+' || *p == '-') p++;
    if (!strcmp(p, ".inf") || !strcmp(p, ".Inf") || !strcmp(p, ".INF")) return *is_float = 1;
    if (!strcmp(s, ".nan") || !strcmp(s, ".NaN") || !strcmp(s, ".NAN")) return *is_float = 1;
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X') && p[2]) {
        for (p += 2; *p; p++)
            if (!strchr("0123456789abcdefABCDEF_", *p)) return 0;
        return 1;
    }
    int digits = 0;
    while ((*p >= '0' && *p <= '9') || *p == '_') digits |= *p++ != '_';
    if (*p == '.') {
        *is_float = 1;
        p++;
        while (*p >= '0' && *p <= '9') digits = 1, p++;
    }
    if (!digits) return 0;
    if (*p == 'e' || *p == 'E') {
        *is_float = 1;
        p++;
        if (*p == '+' || *p == '-') p++;
        if (*p < '0' || *p > '9') return 0;
        while (*p >= '0' && *p <= '9') p++;
    }
    return *p == 0;
}

/* The tag yaml.v2 gives a node: "!!null", "!!bool", "!!int", "!!float",
 * "!!str", "!!seq", "!!map", or an explicit tag as written. */
static const char *node_tag(const yaml_node_t *n) {
    if (n->type == YAML_SEQUENCE_NODE) return "!!seq";
    if (n->type == YAML_MAPPING_NODE) return "!!map";
    if (n->type != YAML_SCALAR_NODE) return "!!null";
    const char *tag = n->tag ? (const char *)n->tag : "";
    static const char prefix[] = "tag:yaml.org,2002:";
    int plain = n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE || n->data.scalar.style == YAML_ANY_SCALAR_STYLE;
    if (!plain || strcmp(tag, YAML_DEFAULT_SCALAR_TAG)) {
        if (!strcmp(tag, YAML_DEFAULT_SCALAR_TAG)) return "!!str";
        if (!strncmp(tag, prefix, sizeof prefix - 1)) {
            const char *t = tag + sizeof prefix - 1;
            if (!strcmp(t, "null")) return "!!null";
            if (!strcmp(t, "bool")) return "!!bool";
            if (!strcmp(t, "int")) return "!!int";
            if (!strcmp(t, "float")) return "!!float";
            if (!strcmp(t, "str")) return "!!str";
            if (!strcmp(t, "binary")) return "!!binary";
        }
        return tag;
    }
    const char *s = (const char *)n->data.scalar.value;
    if (!*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL")) return "!!null";
    if (in_list(s, yaml11_true) || in_list(s, yaml11_false)) return "!!bool";
    int is_float;
    if (looks_numeric(s, &is_float)) return is_float ? "!!float" : "!!int";
    return "!!str";
}

static int is_null(const yaml_node_t *n) { return !n || !strcmp(node_tag(n), "!!null"); }

static const char *scalar(const yaml_node_t *n) { return (const char *)n->data.scalar.value; }

/* "cannot unmarshal !!str `abc` into T", as yaml.v2 words it. */
static int type_error(loader *L, const yaml_node_t *n, const char *into) {
    const char *tag = node_tag(n);
    if (n->type != YAML_SCALAR_NODE) return fail(L, n, "cannot unmarshal %s into %s", tag, into);
    const char *v = scalar(n);
    if (strlen(v) > 10) return fail(L, n, "cannot unmarshal %s `%.7s...` into %s", tag, v, into);
    return fail(L, n, "cannot unmarshal %s `%s` into %s", tag, v, into);
}

static yaml_node_t *node(loader *L, int id) { return yaml_document_get_node(L->doc, id); }

/* Checks a struct-like mapping's keys: each is one of `known` or of
 * `unsupported` (refused unless its value is empty: null, [] or {}), and
 * none repeats.  Lists end with NULL. */
static int check_fields(loader *L, const yaml_node_t *map, const char *type, const char *const *known,
                        const char *const *unsupported) {
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = node(L, p->key), *v = node(L, p->value);
        if (k->type != YAML_SCALAR_NODE) return type_error(L, k, "string");
        const char *name = scalar(k);
        if (!in_list(name, known)) {
            if (!unsupported || !in_list(name, unsupported)) return fail(L, k, "field %s not found in type %s", name, type);
            int empty = is_null(v) || (v->type == YAML_SEQUENCE_NODE && v->data.sequence.items.top == v->data.sequence.items.start) ||
                        (v->type == YAML_MAPPING_NODE && v->data.mapping.pairs.top == v->data.mapping.pairs.start);
            if (!empty) return fail(L, k, "\"%s\" is not supported by promlite", name);
        }
        for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p; q++) {
            yaml_node_t *kq = node(L, q->key);
            if (kq->type == YAML_SCALAR_NODE && !strcmp(scalar(kq), name))
                return fail(L, k, "field %s already set in type %s", name, type);
        }
    }
    return 0;
}

/* The value of a field of a mapping, NULL when absent. */
static yaml_node_t *field(loader *L, const yaml_node_t *map, const char *name) {
    if (!map || map->type != YAML_MAPPING_NODE) return NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = node(L, p->key);
        if (k->type == YAML_SCALAR_NODE && !strcmp(scalar(k), name)) return node(L, p->value);
    }
    return NULL;
}

/* A string field: any scalar (yaml.v2 reads 123 as "123").  Absent or
 * null gives NULL; "" counts as absent, as Go cannot tell them apart. */
static int get_string(loader *L, const yaml_node_t *n, char **out) {
    *out = NULL;
    if (is_null(n)) return 0;
    if (n->type != YAML_SCALAR_NODE) return type_error(L, n, "string");
    if (strlen(scalar(n)) != n->data.scalar.length) return fail(L, n, "string contains a NUL byte");
    if (*scalar(n)) *out = xstrndup(scalar(n), n->data.scalar.length);
    return 0;
}

/* Resolves a file name against the config's folder (config.JoinDir). */
static char *join_dir(loader *L, char *path) {
    if (!path || path[0] == '/' || !strcmp(L->dir, ".")) return path;
    size_t nd = strlen(L->dir), np = strlen(path);
    char *p = xmalloc(nd + np + 2);
    memcpy(p, L->dir, nd);
    p[nd] = '/';
    memcpy(p + nd + 1, path, np + 1);
    free(path);
    return p;
}

/* Reads a whole file of at most max bytes into a NUL-terminated string. */
static char *read_file(const char *path, size_t max, size_t *len, errbuf *err) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        errf(err, "%s", strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
        fclose(f);
        errf(err, "is a directory");
        return NULL;
    }
    size_t cap = 4096, n = 0;
    char *data = xmalloc(cap + 1);
    for (;;) {
        if (n == cap) {
            if (cap > max) break;
            cap *= 2;
            data = xrealloc(data, cap + 1);
        }
        size_t got = fread(data + n, 1, cap - n, f);
        n += got;
        if (got == 0) break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad || n > max) {
        free(data);
        if (bad) errf(err, "read error");
        else errf(err, "larger than %zu bytes", max);
        return NULL;
    }
    data[n] = 0;
    *len = n;
    return data;
}

static void sha256(const void *p, size_t n, unsigned char out[32]) {
    unsigned int len = 32;
    EVP_Digest(p, n, out, &len, EVP_sha256(), NULL);
}

/* ------------------------------------------------------------ sections */

/* Whether s has the shape of a bcrypt hash: $2a$, $2b$ or $2y$, a cost of
 * 04..31, 53 characters of bcrypt's base64 (22 of salt, 31 of digest). */
static int bcrypt_shape(const char *s, const char **why) {
    if (s[0] != '$' || s[1] != '2' || !s[2] || !strchr("aby", s[2]) || s[3] != '$') {
        *why = "is not a bcrypt hash (it must start with $2a$, $2b$ or $2y$)";
        return 0;
    }
    if (!(s[4] >= '0' && s[4] <= '9' && s[5] >= '0' && s[5] <= '9') || s[6] != '$') {
        *why = "is not a bcrypt hash (bad cost)";
        return 0;
    }
    int cost = (s[4] - '0') * 10 + (s[5] - '0');
    if (cost < 4 || cost > 31) {
        *why = "has a bcrypt cost outside 4..31";
        return 0;
    }
    size_t n = strlen(s + 7);
    if (n != 53 || strspn(s + 7, "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") != 53) {
        *why = "is not a bcrypt hash (it must be 60 characters long)";
        return 0;
    }
    return 1;
}

/* basic_auth_users: user -> bcrypt hash.  Hashes are checked for shape
 * now (exporter-toolkit's validateUsers does the same with bcrypt.Cost), so
 * that a typo shows at start rather than as refused logins. */
static int decode_users(loader *L, const yaml_node_t *n) {
    if (is_null(n)) return 0;
    if (n->type != YAML_MAPPING_NODE) return type_error(L, n, "map[string]config.Secret");
    size_t count = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
    web_security *s = L->sec;
    s->users = xcalloc(count ? count : 1, sizeof *s->users);
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = node(L, p->key), *v = node(L, p->value);
        if (k->type != YAML_SCALAR_NODE) return type_error(L, k, "string");
        const char *name = is_null(k) ? "" : scalar(k);
        for (size_t i = 0; i < s->nusers; i++)
            if (!strcmp(s->users[i].name, name)) return fail(L, k, "key \"%s\" already set in map", name);
        if (strchr(name, ':'))
            return fail(L, k, "user name \"%s\" contains ':', which basic auth cannot carry", name);
        if (strlen(name) != k->data.scalar.length) return fail(L, k, "user name contains a NUL byte");
        char *hash;
        if (get_string(L, v, &hash)) return -1;
        if (!hash) return fail(L, v ? v : k, "user \"%s\" has no password hash", name);
        const char *why;
        web_user *u = &s->users[s->nusers++];
        u->name = xstrndup(name, strlen(name));
        u->hash = hash;
        u->line = (int)k->start_mark.line + 1;
        if (!bcrypt_shape(hash, &why)) return fail(L, v, "the password hash of user \"%s\" %s", name, why);
    }
    return 0;
}

/* bearer_tokens: [{token | token_file, role}].  Token files are read now
 * and only the digest of each token is kept; repeats are refused since
 * they would make the role ambiguous. */
static int decode_tokens(loader *L, const yaml_node_t *n) {
    static const char *const known[] = {"token", "token_file", "role", NULL};
    if (is_null(n)) return 0;
    if (n->type != YAML_SEQUENCE_NODE) return type_error(L, n, "[]promlite.BearerToken");
    size_t count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    web_security *s = L->sec;
    s->tokens = xcalloc(count ? count : 1, sizeof *s->tokens);
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
        yaml_node_t *t = node(L, *it);
        if (t->type != YAML_MAPPING_NODE) return type_error(L, t, "promlite.BearerToken");
        if (check_fields(L, t, "promlite.BearerToken", known, NULL)) return -1;
        char *token = NULL, *file = NULL, *role = NULL;
        yaml_node_t *tn = field(L, t, "token"), *fn = field(L, t, "token_file"), *rn = field(L, t, "role");
        int rc = -1;
        if (get_string(L, tn, &token) || get_string(L, fn, &file) || get_string(L, rn, &role)) goto out;
        web_token *wt = &s->tokens[s->ntokens];
        wt->line = (int)t->start_mark.line + 1;
        wt->role = WEB_ROLE_READ;
        if (role && !strcmp(role, "admin")) wt->role = WEB_ROLE_ADMIN;
        else if (role && strcmp(role, "read")) {
            fail(L, rn, "unknown role \"%s\" (use read or admin)", role);
            goto out;
        }
        if (token && file) {
            fail(L, t, "at most one of token and token_file must be configured");
            goto out;
        }
        if (!token && !file) {
            fail(L, t, "a bearer token needs token or token_file");
            goto out;
        }
        if (file) {
            file = join_dir(L, file);
            errbuf e;
            size_t len;
            char *text = read_file(file, WEBCONFIG_MAX_TOKEN_FILE, &len, &e);
            if (!text) {
                fail(L, fn, "cannot read token_file %s: %s", file, e.msg);
                goto out;
            }
            /* Prometheus's credentials files: surrounding whitespace goes. */
            char *b = text, *e2 = text + len;
            while (b < e2 && strchr(" \t\r\n", *b)) b++;
            while (e2 > b && strchr(" \t\r\n", e2[-1])) e2--;
            token = xstrndup(b, (size_t)(e2 - b));
            free(text);
            if (!*token || strlen(token) != (size_t)(e2 - b)) {
                fail(L, fn, "token_file %s is empty or contains a NUL byte", file);
                goto out;
            }
            tn = fn;
        }
        for (const char *c = token; *c; c++)
            if ((unsigned char)*c <= ' ' || *c == 0x7f) {
                fail(L, tn, "a bearer token cannot contain spaces or control characters");
                goto out;
            }
        sha256(token, strlen(token), wt->digest);
        for (size_t i = 0; i < s->ntokens; i++)
            if (!memcmp(s->tokens[i].digest, wt->digest, 32)) {
                fail(L, tn, "the same bearer token is configured at line %d", s->tokens[i].line);
                goto out;
            }
        s->ntokens++;
        rc = 0;
    out:
        if (token) OPENSSL_cleanse(token, strlen(token));
        free(token);
        free(file);
        free(role);
        if (rc) return rc;
    }
    return 0;
}

/* tls_server_config: only server certificates; client_auth_type may
 * only say NoClientCert.  Paths are resolved, not read (web_start does). */
static int decode_tls(loader *L, const yaml_node_t *n) {
    static const char *const known[] = {"cert_file", "key_file", "client_auth_type", NULL};
    static const char *const unsupported[] = {"client_ca_file", "cipher_suites", "curve_preferences", "min_version",
                                              "max_version", "prefer_server_cipher_suites", NULL};
    if (is_null(n)) return 0;
    if (n->type != YAML_MAPPING_NODE) return type_error(L, n, "web.TLSStruct");
    if (check_fields(L, n, "web.TLSStruct", known, unsupported)) return -1;
    web_security *s = L->sec;
    char *auth = NULL;
    yaml_node_t *an = field(L, n, "client_auth_type");
    if (get_string(L, field(L, n, "cert_file"), &s->cert_file) || get_string(L, field(L, n, "key_file"), &s->key_file) ||
        get_string(L, an, &auth))
        return -1;
    if (auth && strcmp(auth, "NoClientCert")) {
        static const char *const valid[] = {"RequestClientCert", "RequireAnyClientCert", "VerifyClientCertIfGiven",
                                            "RequireAndVerifyClientCert", NULL};
        int known_type = in_list(auth, valid);
        int rc = known_type ? fail(L, an, "client_auth_type %s is not supported by promlite (only NoClientCert)", auth)
                            : fail(L, an, "invalid ClientAuth: %s", auth);
        free(auth);
        return rc;
    }
    int had_auth = auth != NULL;
    free(auth);
    /* exporter-toolkit's checks: TLS is on when any TLS field is set, and
     * then needs both files. */
    if (!s->cert_file && !s->key_file && !had_auth) return 0;
    if (!s->cert_file) return fail(L, n, "missing cert_file");
    if (!s->key_file) return fail(L, n, "missing key_file");
    s->cert_file = join_dir(L, s->cert_file);
    s->key_file = join_dir(L, s->key_file);
    return 0;
}

/* http_server_config: http2 is type-checked and kept, nothing uses it. */
static int decode_http(loader *L, const yaml_node_t *n) {
    static const char *const known[] = {"http2", NULL};
    static const char *const unsupported[] = {"headers", NULL};
    if (is_null(n)) return 0;
    if (n->type != YAML_MAPPING_NODE) return type_error(L, n, "web.HTTPStruct");
    if (check_fields(L, n, "web.HTTPStruct", known, unsupported)) return -1;
    yaml_node_t *h = field(L, n, "http2");
    if (h && !is_null(h)) {
        if (strcmp(node_tag(h), "!!bool")) return type_error(L, h, "bool");
        L->sec->http2 = in_list(scalar(h), yaml11_true);
    }
    return 0;
}

/* Formats libyaml's parse error as "NAME:LINE:COL: yaml: problem". */
static int yaml_syntax_error(loader *L, const yaml_parser_t *p) {
    const char *problem = p->problem ? p->problem : "unknown problem parsing YAML content";
    if (p->context)
        return errf(L->err, "%s:%zu:%zu: yaml: %s %s (started at line %zu, column %zu)", L->name, p->problem_mark.line + 1,
                    p->problem_mark.column + 1, problem, p->context, p->context_mark.line + 1, p->context_mark.column + 1);
    if (p->error == YAML_READER_ERROR) return errf(L->err, "%s: yaml: %s at byte %zu", L->name, problem, p->problem_offset);
    return errf(L->err, "%s:%zu:%zu: yaml: %s", L->name, p->problem_mark.line + 1, p->problem_mark.column + 1, problem);
}

/* The whole document (web.Config); an empty one configures nothing. */
static int decode_root(loader *L, yaml_node_t *root) {
    static const char *const known[] = {"tls_server_config", "http_server_config", "basic_auth_users", "bearer_tokens", NULL};
    if (is_null(root)) return 0;
    if (root->type != YAML_MAPPING_NODE) return type_error(L, root, "web.Config");
    if (check_fields(L, root, "web.Config", known, NULL)) return -1;
    return decode_tls(L, field(L, root, "tls_server_config")) || decode_http(L, field(L, root, "http_server_config")) ||
                   decode_users(L, field(L, root, "basic_auth_users")) || decode_tokens(L, field(L, root, "bearer_tokens"))
               ? -1
               : 0;
}

int webconfig_parse(const char *text, size_t len, const char *name, web_security **out, errbuf *err) {
    *out = NULL;
    web_security *s = xcalloc(1, sizeof *s);
    s->path = xstrndup(name, strlen(name));
    s->http2 = 1;
    const char *slash = strrchr(name, '/');
    loader L = {.name = name, .err = err, .sec = s,
                .dir = slash ? xstrndup(name, slash == name ? 1 : (size_t)(slash - name)) : xstrndup(".", 1)};
    yaml_parser_t parser;
    yaml_document_t doc;
    int rc = -1;
    if (!yaml_parser_initialize(&parser)) {
        errf(err, "%s: yaml: cannot initialise the parser", name);
        goto done;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING);
    if (!yaml_parser_load(&parser, &doc)) {
        yaml_syntax_error(&L, &parser);
        yaml_parser_delete(&parser);
        goto done;
    }
    L.doc = &doc;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    rc = decode_root(&L, root);
    yaml_document_delete(&doc);
    if (rc == 0 && root) {
        /* yaml.v2 would read the first document only: refuse a second. */
        if (!yaml_parser_load(&parser, &doc)) {
            rc = yaml_syntax_error(&L, &parser);
        } else {
            if (yaml_document_get_root_node(&doc))
                rc = errf(err, "%s:%zu:%zu: a second YAML document is not supported", name, doc.start_mark.line + 1,
                          doc.start_mark.column + 1);
            yaml_document_delete(&doc);
        }
    }
    yaml_parser_delete(&parser);
done:
    free(L.dir);
    if (rc) {
        webconfig_free(s);
        return -1;
    }
    *out = s;
    return 0;
}

int webconfig_load(const char *path, web_security **out, errbuf *err) {
    errbuf e;
    size_t len;
    *out = NULL;
    char *text = read_file(path, WEBCONFIG_MAX_FILE_BYTES, &len, &e);
    if (!text) return errf(err, "cannot read web config file %s: %s", path, e.msg);
    int rc = webconfig_parse(text, len, path, out, err);
    free(text);
    return rc;
}

void webconfig_free(web_security *s) {
    if (!s) return;
    for (size_t i = 0; i < s->nusers; i++) {
        free(s->users[i].name);
        free(s->users[i].hash);
    }
    free(s->users);
    if (s->tokens) OPENSSL_cleanse(s->tokens, s->ntokens * sizeof *s->tokens);
    free(s->tokens);
    free(s->cert_file);
    free(s->key_file);
    free(s->path);
    free(s);
}

int webconfig_auth_required(const web_security *s) { return s && (s->nusers || s->ntokens); }

/* ------------------------------------------------------------ authentication */

int webconfig_bcrypt_verify(const char *hash, const char *password) {
    const char *why;
    if (!hash || !bcrypt_shape(hash, &why)) return 0;
    /* struct crypt_data is ~32 KiB: on the heap, not a request thread's stack. */
    struct crypt_data *cd = xcalloc(1, sizeof *cd);
    const char *r = crypt_r(password, hash, cd);
    int ok = r && strlen(r) == strlen(hash) && CRYPTO_memcmp(r, hash, strlen(hash)) == 0;
    OPENSSL_cleanse(cd, sizeof *cd);
    free(cd);
    return ok;
}

typedef struct {
    unsigned char key[32];
    int ok;
    int used;
} cache_entry;

struct webauth_cache {
    pthread_mutex_t mu;
    cache_entry *e;
    size_t cap, next;      /* next: the slot the next insertion evicts */
    unsigned long misses;
};

webauth_cache *webauth_cache_new(size_t capacity) {
    webauth_cache *c = xcalloc(1, sizeof *c);
    pthread_mutex_init(&c->mu, NULL);
    c->cap = capacity ? capacity : 1;
    c->e = xcalloc(c->cap, sizeof *c->e);
    return c;
}

void webauth_cache_free(webauth_cache *c) {
    if (!c) return;
    pthread_mutex_destroy(&c->mu);
    OPENSSL_cleanse(c->e, c->cap * sizeof *c->e);
    free(c->e);
    free(c);
}

unsigned long webauth_cache_misses(webauth_cache *c) {
    pthread_mutex_lock(&c->mu);
    unsigned long n = c->misses;
    pthread_mutex_unlock(&c->mu);
    return n;
}

/* Looks a key up: 1 and *ok when cached. */
static int cache_get(webauth_cache *c, const unsigned char key[32], int *ok) {
    int found = 0;
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < c->cap && !found; i++)
        if (c->e[i].used && !memcmp(c->e[i].key, key, 32)) found = 1, *ok = c->e[i].ok;
    if (!found) c->misses++;
    pthread_mutex_unlock(&c->mu);
    return found;
}

static void cache_put(webauth_cache *c, const unsigned char key[32], int ok) {
    pthread_mutex_lock(&c->mu);
    cache_entry *e = &c->e[c->next];
    c->next = (c->next + 1) % c->cap;
    memcpy(e->key, key, 32);
    e->ok = ok;
    e->used = 1;
    pthread_mutex_unlock(&c->mu);
}

/* Decodes standard base64 (padding optional) into out (NUL-terminated);
 * returns the length, or -1 on bad input or overflow. */
static long base64_decode(const char *in, char *out, size_t cap) {
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = 0;
    unsigned acc = 0, bits = 0;
    const char *p = in;
    for (; *p && *p != '='; p++) {
        const char *d = strchr(alphabet, *p);
        if (!d || !*p) return -1;
        acc = (acc << 6) | (unsigned)(d - alphabet);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (n + 1 >= cap) return -1;
            out[n++] = (char)((acc >> bits) & 0xff);
        }
    }
    while (*p == '=') p++;
    if (*p) return -1;
    out[n] = 0;
    return (long)n;
}

/* Basic auth: the user's rights, or WEB_ROLE_NONE. */
static web_role check_basic(const web_security *s, webauth_cache *cache, const char *b64) {
    char decoded[1024];
    long n = base64_decode(b64, decoded, sizeof decoded);
    web_role role = WEB_ROLE_NONE;
    char *colon = n > 0 ? memchr(decoded, ':', (size_t)n) : NULL;
    if (!colon || !s->nusers || strlen(decoded) != (size_t)n) goto out;
    *colon = 0;
    const char *user = decoded, *pass = colon + 1;
    const web_user *u = NULL;
    for (size_t i = 0; i < s->nusers && !u; i++)
        if (!strcmp(s->users[i].name, user)) u = &s->users[i];
    /* An unknown user is checked against the first user's hash, so that
     * both take a bcrypt run; the outcome is then refused regardless. */
    const char *hash = u ? u->hash : s->users[0].hash;
    unsigned char key[32];
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned int klen = 32;
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    EVP_DigestUpdate(md, user, strlen(user) + 1);
    EVP_DigestUpdate(md, hash, strlen(hash) + 1);
    EVP_DigestUpdate(md, pass, strlen(pass));
    EVP_DigestFinal_ex(md, key, &klen);
    EVP_MD_CTX_free(md);
    int ok;
    if (!cache || !cache_get(cache, key, &ok)) {
        ok = webconfig_bcrypt_verify(hash, pass) && u;
        if (cache) cache_put(cache, key, ok);
    }
    if (ok && u) role = s->ntokens ? WEB_ROLE_READ : WEB_ROLE_ADMIN;
    OPENSSL_cleanse(key, sizeof key);
out:
    OPENSSL_cleanse(decoded, sizeof decoded);
    return role;
}

/* Bearer token: the token's role, or WEB_ROLE_NONE.  Every configured
 * token is compared, so timing does not depend on which one matches. */
static web_role check_bearer(const web_security *s, const char *token) {
    unsigned char d[32];
    sha256(token, strlen(token), d);
    web_role role = WEB_ROLE_NONE;
    for (size_t i = 0; i < s->ntokens; i++)
        if (CRYPTO_memcmp(d, s->tokens[i].digest, 32) == 0) role = s->tokens[i].role;
    return role;
}

web_role webconfig_authenticate(const web_security *s, webauth_cache *cache, const char *authorization) {
    if (!webconfig_auth_required(s)) return WEB_ROLE_ADMIN;
    if (!authorization) return WEB_ROLE_NONE;
    const char *p = authorization;
    while (*p == ' ') p++;
    if (!strncasecmp(p, "Basic ", 6)) {
        p += 6;
        while (*p == ' ') p++;
        return check_basic(s, cache, p);
    }
    if (!strncasecmp(p, "Bearer ", 7)) {
        p += 7;
        while (*p == ' ') p++;
        size_t n = strlen(p);
        while (n && p[n - 1] == ' ') n--;
        if (!n || n > 4096) return WEB_ROLE_NONE;
        char tok[4097];
        memcpy(tok, p, n);
        tok[n] = 0;
        web_role r = check_bearer(s, tok);
        OPENSSL_cleanse(tok, sizeof tok);
        return r;
    }
    return WEB_ROLE_NONE;
}
