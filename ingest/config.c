/*
 * config.c - loads prometheus.yml (the subset promlite supports) into the
 * structs of config.h.
 *
 * Design.  common/yamltree.c parses the text into a tree of nodes with
 * positions, allocated from the configuration's arena, with tags resolved
 * as Go's yaml.v2 does, so type errors read like Prometheus's ("cannot
 * unmarshal !!str `abc` into bool").  The tree outlives the parse, which
 * lets the raw `alerting` node be read later by the alerting module.
 *
 * Decoding is one function per Prometheus type.  Each first checks the
 * mapping's keys against the type's known fields (unknown keys fail with
 * Prometheus's "field X not found in type T", keys Prometheus has but
 * promlite lacks fail as unsupported, repeated keys as "already set"), then
 * decodes the fields it needs by name, then applies Prometheus's checks in
 * Prometheus's order.  The first problem stops the load: the message is
 * "NAME:LINE:COL: reason" with the position of the node at fault (for
 * checks that Prometheus makes on a whole section, the section's start).
 *
 * Memory: one arena (a list of chunks) per configuration holds the node
 * tree and every decoded string and array; relabel rules, which
 * relabel_rule_new() allocates itself, are registered with the arena and
 * freed with it.  An error leaves nothing behind: the half-built
 * configuration is freed whole.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "common/timeutil.h"
#include "common/yamltree.h"
#include "ingest/config.h"

#define CONFIG_MAX_FILE_BYTES (16u << 20)


/* ------------------------------------------------------------ sections */

static int decode_global(yt_loader *L, const yt_node *n, config_global *g) {
    static const char *const known[] = {"scrape_interval", "scrape_timeout", "evaluation_interval",
                                        "external_labels", NULL};
    static const char *const unsupported[] = {"query_log_file", NULL};
    g->scrape_interval_ms = g->scrape_timeout_ms = g->evaluation_interval_ms = 0;
    if (n) {
        if (yt_expect_mapping(L, n, "config.plain") || yt_check_fields(L, n, "config.plain", known, unsupported)) return -1;
        if (yt_duration(L, yt_field(n, "scrape_interval"), &g->scrape_interval_ms) ||
            yt_duration(L, yt_field(n, "scrape_timeout"), &g->scrape_timeout_ms) ||
            yt_duration(L, yt_field(n, "evaluation_interval"), &g->evaluation_interval_ms) ||
            yt_labels(L, yt_field(n, "external_labels"), "map[string]string", &g->external_labels,
                          &g->nexternal_labels))
            return -1;
    }
    /* GlobalConfig.UnmarshalYAML's defaults and check, in its order. */
    if (g->scrape_interval_ms == 0) g->scrape_interval_ms = 60000;
    if (g->scrape_timeout_ms > g->scrape_interval_ms) {
        const yt_node *at = yt_field(n, "scrape_timeout");
        return yt_fail(L, at, "global scrape timeout greater than scrape interval");
    }
    if (g->scrape_timeout_ms == 0) g->scrape_timeout_ms = g->scrape_interval_ms < 10000 ? g->scrape_interval_ms : 10000;
    if (g->evaluation_interval_ms == 0) g->evaluation_interval_ms = 60000;
    return 0;
}

int config_decode_basic_auth(yt_loader *L, const yt_node *n, config_basic_auth *ba) {
    static const char *const known[] = {"username", "password", "password_file", NULL};
    if (yt_expect_mapping(L, n, "config.plain") || yt_check_fields(L, n, "config.plain", known, NULL)) return -1;
    ba->username = "";
    if (yt_string(L, yt_field(n, "username"), &ba->username) ||
        yt_string(L, yt_field(n, "password"), &ba->password) ||
        yt_string(L, yt_field(n, "password_file"), &ba->password_file))
        return -1;
    /* Go keeps "" for absent strings: an empty value counts as not given. */
    if (ba->password && !*ba->password) ba->password = NULL;
    if (ba->password_file && !*ba->password_file) ba->password_file = NULL;
    ba->password_file = yt_join_dir(L, ba->password_file);
    return 0;
}

int config_decode_authorization(yt_loader *L, const yt_node *n, config_authorization *a) {
    static const char *const known[] = {"type", "credentials", "credentials_file", NULL};
    if (yt_expect_mapping(L, n, "config.Authorization") || yt_check_fields(L, n, "config.Authorization", known, NULL))
        return -1;
    a->type = "";
    if (yt_string(L, yt_field(n, "type"), &a->type) || yt_string(L, yt_field(n, "credentials"), &a->credentials) ||
        yt_string(L, yt_field(n, "credentials_file"), &a->credentials_file))
        return -1;
    if (a->credentials && !*a->credentials) a->credentials = NULL;
    if (a->credentials_file && !*a->credentials_file) a->credentials_file = NULL;
    a->credentials_file = yt_join_dir(L, a->credentials_file);
    return 0;
}

int config_decode_tls(yt_loader *L, const yt_node *n, config_tls *t) {
    static const char *const known[] = {"ca_file", "cert_file", "key_file", "server_name", "insecure_skip_verify",
                                        "min_version", "max_version", NULL};
    /* Inline PEM (prometheus/common 0.38+) is not read by promlite. */
    static const char *const unsupported[] = {"ca", "cert", "key", NULL};
    if (!n || n->kind == YT_NULL) return 0;
    if (yt_expect_mapping(L, n, "config.plain") || yt_check_fields(L, n, "config.plain", known, unsupported))
        return -1;
    if (yt_string(L, yt_field(n, "ca_file"), &t->ca_file) ||
        yt_string(L, yt_field(n, "cert_file"), &t->cert_file) ||
        yt_string(L, yt_field(n, "key_file"), &t->key_file) ||
        yt_string(L, yt_field(n, "server_name"), &t->server_name) ||
        yt_bool(L, yt_field(n, "insecure_skip_verify"), &t->insecure_skip_verify))
        return -1;
    static const char *const versions[] = {"TLS10", "TLS11", "TLS12", "TLS13"};
    const char *names[2] = {"min_version", "max_version"};
    const char **targets[2] = {&t->min_version, &t->max_version};
    for (int i = 0; i < 2; i++) {
        const yt_node *v = yt_field(n, names[i]);
        if (yt_string(L, v, targets[i])) return -1;
        if (*targets[i] && !yt_in_list(*targets[i], versions, 4))
            return yt_fail(L, v, "unknown TLS version: %s", *targets[i]);
    }
    const char **files[3] = {&t->ca_file, &t->cert_file, &t->key_file};
    for (int i = 0; i < 3; i++)
        if (*files[i] && !**files[i]) *files[i] = NULL;
    /* promtool's pairing check: a client certificate needs its key. */
    char q[YT_QUOTE_MAX];
    if (t->cert_file && !t->key_file)
        return yt_fail(L, yt_field(n, "cert_file"), "client cert file %s specified without client key file",
                    yt_quote(q, sizeof q, t->cert_file));
    if (t->key_file && !t->cert_file)
        return yt_fail(L, yt_field(n, "key_file"), "client key file %s specified without client cert file",
                    yt_quote(q, sizeof q, t->key_file));
    t->ca_file = yt_join_dir(L, t->ca_file);
    t->cert_file = yt_join_dir(L, t->cert_file);
    t->key_file = yt_join_dir(L, t->key_file);
    return 0;
}

/* A proxy URL: scheme://host[:port][/...] with scheme http, https or
 * socks5.  Go's url.Parse is looser (it takes "foo" as a relative URL,
 * which then fails at scrape time); the messages follow Go's where both
 * refuse. */
int config_check_proxy_url(yt_loader *L, const yt_node *at, const char *u) {
    char q[YT_QUOTE_MAX];
    yt_quote(q, sizeof q, u);
    const char *colon = strstr(u, "://");
    if (!colon || colon == u) return yt_fail(L, at, "parse %s: missing protocol scheme", q);
    for (const char *p = u; p < colon; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (p > u && ((*p >= '0' && *p <= '9') || *p == '+' || *p == '-' || *p == '.'))))
            return yt_fail(L, at, "parse %s: first path segment in URL cannot contain colon", q);
    size_t slen = (size_t)(colon - u);
    if (!((slen == 4 && !strncasecmp(u, "http", 4)) || (slen == 5 && !strncasecmp(u, "https", 5)) ||
          (slen == 6 && !strncasecmp(u, "socks5", 6))))
        return yt_fail(L, at, "proxy_url %s: scheme must be http, https or socks5", q);
    const char *host = colon + 3, *end = host + strcspn(host, "/?#");
    const char *at_sign = memchr(host, '@', (size_t)(end - host));
    if (at_sign) host = at_sign + 1;
    if (host == end) return yt_fail(L, at, "proxy_url %s has no host", q);
    for (const char *p = host; p < end; p++)
        if (*p == ' ' || (unsigned char)*p < 0x20)
            return yt_fail(L, at, "parse %s: invalid character \"%c\" in host name", q, *p == ' ' ? ' ' : '?');
    if (*host == '[') {
        const char *close = memchr(host, ']', (size_t)(end - host));
        if (!close) return yt_fail(L, at, "parse %s: missing ']' in host", q);
        host = close + 1;
        if (host < end && *host != ':') return yt_fail(L, at, "parse %s: invalid port after host", q);
    }
    const char *port = memchr(host, ':', (size_t)(end - host));
    if (port) {
        if (port + 1 == end) return 0;
        for (const char *p = port + 1; p < end; p++)
            if (*p < '0' || *p > '9') return yt_fail(L, at, "parse %s: invalid port %.*s after host", q, (int)(end - port), port);
    }
    return 0;
}

/* A target address as static_configs take it: "host", "host:port" or
 * "[v6]:port".  Prometheus refuses only a "/"; promlite also refuses what
 * could never be scraped (spaces, a bad port, an unbracketed IPv6). */
static int check_target(yt_loader *L, const yt_node *at, const char *t, size_t ti, size_t gi) {
    char q[YT_QUOTE_MAX];
    yt_quote(q, sizeof q, t);
    if (!*t) return yt_fail(L, at, "instance %zu in group %zu: no address", ti, gi);
    if (strchr(t, '/')) return yt_fail(L, at, "%s is not a valid hostname", q);
    for (const char *p = t; *p; p++)
        if (*p == ' ' || (unsigned char)*p < 0x20 || *p == 0x7f)
            return yt_fail(L, at, "%s is not a valid target address: it contains a space or control character", q);
    const char *port = NULL;
    if (*t == '[') {
        const char *close = strchr(t, ']');
        if (!close || close == t + 1) return yt_fail(L, at, "%s is not a valid target address: missing ']'", q);
        if (close[1] && close[1] != ':') return yt_fail(L, at, "%s is not a valid target address: junk after ']'", q);
        if (close[1]) port = close + 2;
    } else {
        const char *c = strchr(t, ':');
        if (c && strchr(c + 1, ':'))
            return yt_fail(L, at, "%s is not a valid target address: an IPv6 address needs brackets ([::1]:9100)", q);
        if (c == t) return yt_fail(L, at, "%s is not a valid target address: no host", q);
        if (c) port = c + 1;
    }
    if (port) {
        unsigned long v = 0;
        const char *p = port;
        for (; *p >= '0' && *p <= '9' && v <= 65535; p++) v = v * 10 + (unsigned long)(*p - '0');
        if (p == port || *p || v == 0 || v > 65535)
            return yt_fail(L, at, "%s is not a valid target address: invalid port", q);
    }
    return 0;
}

static int decode_static(yt_loader *L, const yt_node *n, size_t gi, config_static *sc) {
    static const char type_name[] = "struct { Targets []string \"yaml:\\\"targets\\\"\"; Labels model.LabelSet "
                                    "\"yaml:\\\"labels\\\"\" }";
    static const char *const known[] = {"targets", "labels", NULL};
    if (n->kind == YT_NULL) return yt_fail(L, n, "empty or null section in static_configs");
    if (yt_expect_mapping(L, n, type_name) || yt_check_fields(L, n, type_name, known, NULL)) return -1;
    sc->line = n->line;
    const yt_node *targets = yt_field(n, "targets");
    if (yt_string_list(L, targets, "[]string", &sc->targets, &sc->ntargets, NULL) ||
        yt_labels(L, yt_field(n, "labels"), "model.LabelSet", &sc->labels, &sc->nlabels))
        return -1;
    for (size_t i = 0; i < sc->ntargets; i++)
        if (check_target(L, targets->items[i], sc->targets[i], i, gi)) return -1;
    char q[YT_QUOTE_MAX];
    const label *addr = labels_get(sc->labels, sc->nlabels, "__address__", 11);
    if (addr && strchr(addr->value, '/')) return yt_fail(L, yt_field(n, "labels"), "%s is not a valid hostname", yt_quote(q, sizeof q, addr->value));
    return 0;
}

/* file_sd's name rule (patFileSDName): one "*" at most, in the last path
 * element, and a .json, .yml or .yaml ending. */
static int file_sd_name_valid(const char *s) {
    const char *star = strchr(s, '*');
    if (star && (strchr(star + 1, '*') || strchr(star, '/'))) return 0;
    const char *dot = strrchr(s, '.');
    if (!dot || (star && dot < star)) return 0;
    static const char *const exts[] = {".json", ".yml", ".yaml", ".JSON", ".YML", ".YAML"};
    return yt_in_list(dot, exts, sizeof exts / sizeof exts[0]);
}

static int decode_file_sd(yt_loader *L, const yt_node *n, config_file_sd *fs) {
    static const char *const known[] = {"files", "refresh_interval", NULL};
    if (n->kind == YT_NULL) return yt_fail(L, n, "empty or null section in file_sd_configs");
    if (yt_expect_mapping(L, n, "file.plain") || yt_check_fields(L, n, "file.plain", known, NULL)) return -1;
    fs->line = n->line;
    fs->refresh_interval_ms = 0;
    const yt_node *files = yt_field(n, "files");
    if (yt_string_list(L, files, "[]string", &fs->files, &fs->nfiles, NULL) ||
        yt_duration(L, yt_field(n, "refresh_interval"), &fs->refresh_interval_ms))
        return -1;
    if (!yt_field(n, "refresh_interval") || yt_field(n, "refresh_interval")->kind == YT_NULL)
        fs->refresh_interval_ms = 300000;
    if (fs->nfiles == 0) return yt_fail(L, n, "file service discovery config must contain at least one path name");
    char q[YT_QUOTE_MAX];
    for (size_t i = 0; i < fs->nfiles; i++) {
        if (!file_sd_name_valid(fs->files[i]))
            return yt_fail(L, files->items[i], "path name %s is not valid for file discovery",
                        yt_quote(q, sizeof q, fs->files[i]));
        fs->files[i] = yt_join_dir(L, fs->files[i]);
    }
    return 0;
}

/* One relabel_configs entry: decoded into a relabel_spec and built by
 * relabel_rule_new(), whose error gets this entry's position. */
/* Arena cleanup for a relabel rule a scrape config keeps. */
static void free_relabel_rule(void *r) { relabel_rule_free(r); }

static int decode_relabel(yt_loader *L, const yt_node *n, int metric, relabel_rule **out) {
    static const char *const known[] = {"source_labels", "separator", "regex", "modulus",
                                        "target_label", "replacement", "action", NULL};
    if (n->kind == YT_NULL)
        return yt_fail(L, n, "empty or null %s relabeling rule in scrape config", metric ? "metric" : "target");
    if (yt_expect_mapping(L, n, "relabel.plain") || yt_check_fields(L, n, "relabel.plain", known, NULL)) return -1;
    relabel_spec spec;
    memset(&spec, 0, sizeof spec);
    const char **sources = NULL;
    const yt_node *src = yt_field(n, "source_labels");
    if (yt_string_list(L, src, "model.LabelNames", &sources, &spec.nsource, NULL)) return -1;
    char q[YT_QUOTE_MAX];
    for (size_t i = 0; i < spec.nsource; i++)
        if (!label_name_valid(sources[i], strlen(sources[i])))
            return yt_fail(L, src->items[i], "%s is not a valid label name", yt_quote(q, sizeof q, sources[i]));
    spec.source_labels = sources;
    const yt_node *mod = yt_field(n, "modulus");
    if (yt_string(L, yt_field(n, "separator"), &spec.separator) ||
        yt_string(L, yt_field(n, "regex"), &spec.regex) ||
        yt_uint(L, mod, &spec.modulus, "uint64") ||
        yt_string(L, yt_field(n, "target_label"), &spec.target_label) ||
        yt_string(L, yt_field(n, "replacement"), &spec.replacement) ||
        yt_string(L, yt_field(n, "action"), &spec.action))
        return -1;
    spec.has_modulus = mod && mod->kind != YT_NULL;
    errbuf rerr;
    rerr.msg[0] = 0;
    relabel_rule *r = NULL;
    if (relabel_rule_new(&spec, &r, &rerr)) {
        if (r) relabel_rule_free(r);
        return yt_fail(L, n, "%s", rerr.msg[0] ? rerr.msg : "invalid relabel configuration");
    }
    yt_arena_defer(L->arena, free_relabel_rule, r);
    *out = r;
    return 0;
}

static int decode_relabel_list(yt_loader *L, const yt_node *n, int metric, relabel_rule ***out, size_t *nout) {
    *out = NULL;
    *nout = 0;
    if (!n || n->kind == YT_NULL) return 0;
    if (n->kind != YT_SEQUENCE) return yt_type_error(L, n, "[]*relabel.Config");
    relabel_rule **v = yt_alloc(L->arena, (n->n ? n->n : 1) * sizeof *v);
    for (size_t i = 0; i < n->n; i++)
        if (decode_relabel(L, n->items[i], metric, &v[i])) return -1;
    *out = v;
    *nout = n->n;
    return 0;
}

static int decode_params(yt_loader *L, const yt_node *n, config_scrape *sc) {
    if (!n || n->kind == YT_NULL) return 0;
    if (n->kind != YT_MAPPING) return yt_type_error(L, n, "url.Values");
    sc->params = yt_alloc(L->arena, (n->n ? n->n : 1) * sizeof *sc->params);
    char q[YT_QUOTE_MAX];
    for (size_t i = 0; i < n->n; i++) {
        const yt_node *k = n->pairs[i].key;
        config_param *p = &sc->params[i];
        p->name = "";
        if (yt_string(L, k, &p->name)) return -1;
        for (size_t j = 0; j < i; j++)
            if (!strcmp(sc->params[j].name, p->name))
                return yt_fail(L, k, "key %s already set in map", yt_quote(q, sizeof q, p->name));
        if (yt_string_list(L, n->pairs[i].value, "[]string", &p->values, &p->nvalues, NULL)) return -1;
    }
    sc->nparams = n->n;
    return 0;
}

int config_decode_http(yt_loader *L, const yt_node *n, config_http *h) {
    const yt_node *ba_node = yt_field(n, "basic_auth"), *auth_node = yt_field(n, "authorization");
    const yt_node *bt = yt_field(n, "bearer_token"), *btf = yt_field(n, "bearer_token_file");
    const char *bearer = NULL, *bearer_file = NULL;
    config_basic_auth *ba = NULL;
    config_authorization *auth = NULL;
    if (ba_node && ba_node->kind != YT_NULL) {
        ba = yt_alloc(L->arena, sizeof *ba);
        if (config_decode_basic_auth(L, ba_node, ba)) return -1;
    }
    if (auth_node && auth_node->kind != YT_NULL) {
        auth = yt_alloc(L->arena, sizeof *auth);
        if (config_decode_authorization(L, auth_node, auth)) return -1;
    }
    if (yt_string(L, bt, &bearer) || yt_string(L, btf, &bearer_file)) return -1;
    if (bearer && !*bearer) bearer = NULL;
    if (bearer_file && !*bearer_file) bearer_file = NULL;
    if (config_decode_tls(L, yt_field(n, "tls_config"), &h->tls)) return -1;
    const yt_node *proxy = yt_field(n, "proxy_url");
    if (yt_string(L, proxy, &h->proxy_url)) return -1;
    if (h->proxy_url && !*h->proxy_url) h->proxy_url = NULL;
    if (h->proxy_url && config_check_proxy_url(L, proxy, h->proxy_url)) return -1;
    if (yt_bool(L, yt_field(n, "follow_redirects"), &h->follow_redirects) ||
        yt_bool(L, yt_field(n, "enable_http2"), &h->enable_http2))
        return -1;

    const yt_node *at_bearer = bt ? bt : btf;
    if (bearer && bearer_file) return yt_fail(L, btf, "at most one of bearer_token & bearer_token_file must be configured");
    if (ba && (bearer || bearer_file))
        return yt_fail(L, at_bearer, "at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured");
    if (ba && ba->password && ba->password_file)
        return yt_fail(L, yt_field(ba_node, "password_file"), "at most one of basic_auth password & password_file must be configured");
    if (auth) {
        if (bearer || bearer_file)
            return yt_fail(L, auth_node, "authorization is not compatible with bearer_token & bearer_token_file");
        if (auth->credentials && auth->credentials_file)
            return yt_fail(L, yt_field(auth_node, "credentials_file"),
                        "at most one of authorization credentials & credentials_file must be configured");
        /* strings.TrimSpace, then the default. */
        const char *t = auth->type;
        while (*t == ' ' || *t == '\t' || *t == '\n' || *t == '\r') t++;
        size_t tl = strlen(t);
        while (tl && (t[tl - 1] == ' ' || t[tl - 1] == '\t' || t[tl - 1] == '\n' || t[tl - 1] == '\r')) tl--;
        auth->type = tl ? yt_strndup(L->arena, t, tl) : "Bearer";
        if (!strcasecmp(auth->type, "basic"))
            return yt_fail(L, yt_field(auth_node, "type"), "authorization type cannot be set to \"basic\", use \"basic_auth\" instead");
        if (ba) return yt_fail(L, auth_node, "at most one of basic_auth, oauth2 & authorization must be configured");
    } else if (bearer || bearer_file) {
        auth = yt_alloc(L->arena, sizeof *auth);
        auth->type = "Bearer";
        auth->credentials = bearer;
        auth->credentials_file = yt_join_dir(L, bearer_file);
    }
    h->basic_auth = ba;
    h->authorization = auth;
    return 0;
}

/* The HTTP client part of a scrape config (Prometheus inlines
 * HTTPClientConfig), whose defaults the caller has set. */
static int decode_http_client(yt_loader *L, const yt_node *n, config_scrape *sc) {
    config_http h = {.follow_redirects = sc->follow_redirects, .enable_http2 = sc->enable_http2};
    if (config_decode_http(L, n, &h)) return -1;
    sc->basic_auth = h.basic_auth;
    sc->authorization = h.authorization;
    sc->tls = h.tls;
    sc->proxy_url = h.proxy_url;
    sc->follow_redirects = h.follow_redirects;
    sc->enable_http2 = h.enable_http2;
    return 0;
}

/* Appends a canonical serialisation of a node: mapping entries sorted by
 * key, scalars by resolved tag and text, so that formatting, quoting and
 * key order do not count. */
static void canonical_node(buf *b, const yt_node *n);

static int pair_order(const void *a, const void *b) {
    const yt_pair *x = *(const yt_pair *const *)a, *y = *(const yt_pair *const *)b;
    const char *kx = x->key->value ? x->key->value : "", *ky = y->key->value ? y->key->value : "";
    return strcmp(kx, ky);
}

static void canonical_node(buf *b, const yt_node *n) {
    switch (n->kind) {
    case YT_NULL: buf_append(b, "N", 1); break;
    case YT_SCALAR:
        buf_printf(b, "S%s:%zu:", n->tag, n->len);
        buf_append(b, n->value, n->len);
        break;
    case YT_SEQUENCE:
        buf_printf(b, "Q%zu[", n->n);
        for (size_t i = 0; i < n->n; i++) canonical_node(b, n->items[i]);
        buf_append(b, "]", 1);
        break;
    case YT_MAPPING: {
        const yt_pair **order = xmalloc((n->n ? n->n : 1) * sizeof *order);
        for (size_t i = 0; i < n->n; i++) order[i] = &n->pairs[i];
        qsort(order, n->n, sizeof *order, pair_order);
        buf_printf(b, "M%zu{", n->n);
        for (size_t i = 0; i < n->n; i++) {
            canonical_node(b, order[i]->key);
            canonical_node(b, order[i]->value);
        }
        buf_append(b, "}", 1);
        free(order);
        break;
    }
    }
}

static int decode_scrape(yt_loader *L, const yt_node *n, const config_global *g, config_scrape *sc) {
    static const char *const known[] = {
        "job_name", "honor_labels", "honor_timestamps", "params", "scrape_interval", "scrape_timeout",
        "metrics_path", "scheme", "body_size_limit", "sample_limit", "target_limit", "label_limit",
        "label_name_length_limit", "label_value_length_limit", "static_configs", "file_sd_configs",
        "relabel_configs", "metric_relabel_configs", "basic_auth", "authorization", "bearer_token",
        "bearer_token_file", "tls_config", "proxy_url", "follow_redirects", "enable_http2", NULL};
    /* Prometheus 2.42 has these; promlite does not yet. */
    static const char *const unsupported[] = {
        "oauth2", "proxy_connect_header", "azure_sd_configs", "consul_sd_configs", "digitalocean_sd_configs",
        "docker_sd_configs", "dockerswarm_sd_configs", "dns_sd_configs", "ec2_sd_configs", "eureka_sd_configs",
        "gce_sd_configs", "hetzner_sd_configs", "http_sd_configs", "ionos_sd_configs", "kubernetes_sd_configs",
        "kuma_sd_configs", "lightsail_sd_configs", "linode_sd_configs", "marathon_sd_configs", "nerve_sd_configs",
        "nomad_sd_configs", "openstack_sd_configs", "ovhcloud_sd_configs", "puppetdb_sd_configs",
        "scaleway_sd_configs", "serverset_sd_configs", "triton_sd_configs", "uyuni_sd_configs", "vultr_sd_configs",
        NULL};
    if (n->kind == YT_NULL) return yt_fail(L, n, "empty or null scrape config section");
    if (yt_expect_mapping(L, n, "config.ScrapeConfig") || yt_check_fields(L, n, "config.ScrapeConfig", known, unsupported))
        return -1;
    sc->line = n->line;
    sc->metrics_path = "/metrics";
    sc->scheme = "http";
    sc->honor_timestamps = 1;
    sc->follow_redirects = 1;
    sc->enable_http2 = 1;
    const char *job = NULL;
    if (yt_string(L, yt_field(n, "job_name"), &job)) return -1;
    if (!job || !*job) return yt_fail(L, yt_field(n, "job_name") ? yt_field(n, "job_name") : n, "job_name is empty");
    sc->job_name = job;
    const yt_node *scheme = yt_field(n, "scheme");
    if (yt_bool(L, yt_field(n, "honor_labels"), &sc->honor_labels) ||
        yt_bool(L, yt_field(n, "honor_timestamps"), &sc->honor_timestamps) ||
        decode_params(L, yt_field(n, "params"), sc) ||
        yt_duration(L, yt_field(n, "scrape_interval"), &sc->scrape_interval_ms) ||
        yt_duration(L, yt_field(n, "scrape_timeout"), &sc->scrape_timeout_ms) ||
        yt_string(L, yt_field(n, "metrics_path"), &sc->metrics_path) ||
        yt_string(L, scheme, &sc->scheme) ||
        yt_size(L, yt_field(n, "body_size_limit"), &sc->body_size_limit) ||
        yt_uint(L, yt_field(n, "sample_limit"), &sc->sample_limit, "uint") ||
        yt_uint(L, yt_field(n, "target_limit"), &sc->target_limit, "uint") ||
        yt_uint(L, yt_field(n, "label_limit"), &sc->label_limit, "uint") ||
        yt_uint(L, yt_field(n, "label_name_length_limit"), &sc->label_name_length_limit, "uint") ||
        yt_uint(L, yt_field(n, "label_value_length_limit"), &sc->label_value_length_limit, "uint"))
        return -1;
    if (!*sc->metrics_path) sc->metrics_path = "/metrics";
    if (!*sc->scheme) sc->scheme = "http";
    char q[YT_QUOTE_MAX];
    if (strcmp(sc->scheme, "http") && strcmp(sc->scheme, "https"))
        return yt_fail(L, scheme, "scheme %s is not supported: want \"http\" or \"https\"", yt_quote(q, sizeof q, sc->scheme));
    if (decode_http_client(L, n, sc)) return -1;

    const yt_node *statics = yt_field(n, "static_configs"), *fsd = yt_field(n, "file_sd_configs");
    if (statics && statics->kind != YT_NULL) {
        if (statics->kind != YT_SEQUENCE) return yt_type_error(L, statics, "[]*targetgroup.Group");
        sc->static_configs = yt_alloc(L->arena, (statics->n ? statics->n : 1) * sizeof *sc->static_configs);
        for (size_t i = 0; i < statics->n; i++)
            if (decode_static(L, statics->items[i], i, &sc->static_configs[i])) return -1;
        sc->nstatic = statics->n;
    }
    if (fsd && fsd->kind != YT_NULL) {
        if (fsd->kind != YT_SEQUENCE) return yt_type_error(L, fsd, "[]*file.SDConfig");
        sc->file_sd_configs = yt_alloc(L->arena, (fsd->n ? fsd->n : 1) * sizeof *sc->file_sd_configs);
        for (size_t i = 0; i < fsd->n; i++)
            if (decode_file_sd(L, fsd->items[i], &sc->file_sd_configs[i])) return -1;
        sc->nfile_sd = fsd->n;
    }
    if (decode_relabel_list(L, yt_field(n, "relabel_configs"), 0, &sc->relabel_rules, &sc->nrelabel) ||
        decode_relabel_list(L, yt_field(n, "metric_relabel_configs"), 1, &sc->metric_relabel_rules,
                            &sc->nmetric_relabel))
        return -1;

    /* ScrapeConfig.Validate: inherit the interval, check, then inherit the
     * timeout capped at the interval. */
    if (sc->scrape_interval_ms == 0) sc->scrape_interval_ms = g->scrape_interval_ms;
    if (sc->scrape_timeout_ms > sc->scrape_interval_ms)
        return yt_fail(L, yt_field(n, "scrape_timeout") ? yt_field(n, "scrape_timeout") : n,
                    "scrape timeout greater than scrape interval for scrape config with job name %s",
                    yt_quote(q, sizeof q, sc->job_name));
    if (sc->scrape_timeout_ms == 0)
        sc->scrape_timeout_ms = g->scrape_timeout_ms > sc->scrape_interval_ms ? sc->scrape_interval_ms : g->scrape_timeout_ms;

    /* The settings' canonical form leaves the static targets out: a change
     * of targets alone is applied by resyncing the job's targets (the others
     * keep scraping as they were), not by rebuilding the job. */
    buf b = {0};
    yt_node settings = *n;
    yt_pair *pairs = xmalloc((n->n ? n->n : 1) * sizeof *pairs);
    settings.pairs = pairs;
    settings.n = 0;
    for (size_t i = 0; i < n->n; i++)
        if (!n->pairs[i].key->value || strcmp(n->pairs[i].key->value, "static_configs"))
            pairs[settings.n++] = n->pairs[i];
    canonical_node(&b, &settings);
    free(pairs);
    buf_printf(&b, "|dir=%s|interval=%lld|timeout=%lld", L->dir, (long long)sc->scrape_interval_ms,
               (long long)sc->scrape_timeout_ms);
    if (statics) {
        buf t = {0};
        canonical_node(&t, statics);
        sc->targets_hash = XXH3_64bits(t.data, t.len);
        buf_free(&t);
    }
    sc->canonical = yt_strndup(L->arena, (const char *)b.data, b.len);
    sc->canonical_len = b.len;
    sc->source_hash = XXH3_64bits(b.data, b.len);
    buf_free(&b);
    return 0;
}

/* rule_files' name rule (patRulePath): at most one "*", in the last path
 * element. */
static int rule_path_valid(const char *s) {
    const char *star = strchr(s, '*');
    return !star || (!strchr(star + 1, '*') && !strchr(star, '/'));
}

static int decode_root(yt_loader *L, const yt_node *root, promlite_config *cfg) {
    static const char *const known[] = {"global", "scrape_configs", "rule_files", "alerting", NULL};
    static const char *const unsupported[] = {"remote_write", "remote_read", "storage", "tracing", NULL};
    if (root) {
        if (yt_expect_mapping(L, root, "config.plain") || yt_check_fields(L, root, "config.plain", known, unsupported))
            return -1;
    }
    const yt_node *global = yt_field(root, "global");
    if (decode_global(L, global && global->kind != YT_NULL ? global : NULL, &cfg->global)) return -1;

    const yt_node *rules = yt_field(root, "rule_files");
    if (yt_string_list(L, rules, "[]string", &cfg->rule_files, &cfg->nrule_files, &cfg->rule_file_lines)) return -1;
    char q[YT_QUOTE_MAX];
    for (size_t i = 0; i < cfg->nrule_files; i++) {
        if (!rule_path_valid(cfg->rule_files[i]))
            return yt_fail(L, rules->items[i], "invalid rule file path %s", yt_quote(q, sizeof q, cfg->rule_files[i]));
        cfg->rule_files[i] = yt_join_dir(L, cfg->rule_files[i]);
    }

    const yt_node *alerting = yt_field(root, "alerting");
    if (alerting && alerting->kind != YT_NULL) {
        if (yt_expect_mapping(L, alerting, "config.plain")) return -1;
        cfg->alerting = alerting;
    }

    const yt_node *scrapes = yt_field(root, "scrape_configs");
    if (scrapes && scrapes->kind != YT_NULL) {
        if (scrapes->kind != YT_SEQUENCE) return yt_type_error(L, scrapes, "[]*config.ScrapeConfig");
        cfg->scrape_configs = yt_alloc(L->arena, (scrapes->n ? scrapes->n : 1) * sizeof *cfg->scrape_configs);
        for (size_t i = 0; i < scrapes->n; i++) {
            config_scrape *sc = &cfg->scrape_configs[i];
            if (decode_scrape(L, scrapes->items[i], &cfg->global, sc)) return -1;
            cfg->nscrape = i + 1;
            for (size_t j = 0; j < i; j++)
                if (!strcmp(cfg->scrape_configs[j].job_name, sc->job_name))
                    return yt_fail(L, yt_field(scrapes->items[i], "job_name"), "found multiple scrape configs with job name %s",
                                yt_quote(q, sizeof q, sc->job_name));
        }
    }
    return 0;
}

/* ------------------------------------------------------------ API */

int config_parse(const char *text, size_t len, const char *name, promlite_config **out, errbuf *err) {
    *out = NULL;
    yt_arena *ctx = yt_arena_new();
    promlite_config *cfg = yt_alloc(ctx, sizeof *cfg);
    cfg->ctx = ctx;
    cfg->name = yt_strdup(ctx, name ? name : "<config>");
    const char *slash = strrchr(cfg->name, '/');
    cfg->dir = !slash ? "." : slash == cfg->name ? "/" : yt_strndup(ctx, cfg->name, (size_t)(slash - cfg->name));
    yt_loader L = {.arena = ctx, .name = cfg->name, .dir = cfg->dir, .err = err};
    yt_node *root = NULL;
    if (yt_parse(&L, text, len, &root) || decode_root(&L, root, cfg)) {
        config_free(cfg);
        return -1;
    }
    *out = cfg;
    return 0;
}

int config_load(const char *path, promlite_config **out, errbuf *err) {
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errf(err, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
        close(fd);
        return errf(err, "%s: not a regular file", path);
    }
    if ((uint64_t)st.st_size > CONFIG_MAX_FILE_BYTES) {
        close(fd);
        return errf(err, "%s: larger than %u MiB", path, CONFIG_MAX_FILE_BYTES >> 20);
    }
    size_t size = (size_t)st.st_size, got = 0;
    char *text = xmalloc(size + 1);
    while (got < size) {
        ssize_t r = read(fd, text + got, size - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            int e = r < 0 ? errno : EIO;
            close(fd);
            free(text);
            return errf(err, "%s: cannot read: %s", path, strerror(e));
        }
        got += (size_t)r;
    }
    close(fd);
    int rc = config_parse(text, size, path, out, err);
    free(text);
    return rc;
}

void config_free(promlite_config *cfg) {
    if (cfg) yt_arena_free(cfg->ctx);
}

int config_scrape_targets_equal(const config_scrape *a, const config_scrape *b) {
    return a->targets_hash == b->targets_hash;
}

int config_scrape_equal(const config_scrape *a, const config_scrape *b) {
    return a->source_hash == b->source_hash && a->canonical_len == b->canonical_len &&
           !memcmp(a->canonical, b->canonical, a->canonical_len);
}

const config_scrape *config_find_job(const promlite_config *cfg, const char *job_name) {
    for (size_t i = 0; i < cfg->nscrape; i++)
        if (!strcmp(cfg->scrape_configs[i].job_name, job_name)) return &cfg->scrape_configs[i];
    return NULL;
}

/* The adders work in the configuration's own arena; on failure what was
 * allocated stays there unused until config_free (no pointer to it is kept),
 * so cfg is unchanged as far as any reader can tell. */
int config_add_scrape_configs(promlite_config *cfg, const char *text, size_t len, const char *name, errbuf *err) {
    yt_arena *ctx = cfg->ctx;
    yt_loader L = {.arena = ctx, .name = yt_strdup(ctx, name ? name : "<scrape configs>"), .dir = cfg->dir, .err = err};
    yt_node *root = NULL;
    if (yt_parse(&L, text, len, &root)) return -1;
    if (!root || root->kind == YT_NULL) return 0;
    if (root->kind != YT_SEQUENCE) return yt_type_error(&L, root, "[]*config.ScrapeConfig");
    size_t total = cfg->nscrape + root->n;
    config_scrape *all = yt_alloc(ctx, (total ? total : 1) * sizeof *all);
    if (cfg->nscrape) memcpy(all, cfg->scrape_configs, cfg->nscrape * sizeof *all);
    char q[YT_QUOTE_MAX];
    for (size_t i = 0; i < root->n; i++) {
        config_scrape *sc = &all[cfg->nscrape + i];
        if (decode_scrape(&L, root->items[i], &cfg->global, sc)) return -1;
        for (size_t j = 0; j < cfg->nscrape + i; j++)
            if (!strcmp(all[j].job_name, sc->job_name))
                return yt_fail(&L, yt_field(root->items[i], "job_name"), "found multiple scrape configs with job name %s",
                            yt_quote(q, sizeof q, sc->job_name));
    }
    cfg->scrape_configs = all;
    cfg->nscrape = total;
    return 0;
}

int config_add_targets(promlite_config *cfg, const char *job_name, const config_target_input *in, size_t n,
                       errbuf *err) {
    yt_arena *ctx = cfg->ctx;
    config_scrape *sc = NULL;
    for (size_t i = 0; i < cfg->nscrape; i++)
        if (!strcmp(cfg->scrape_configs[i].job_name, job_name)) sc = &cfg->scrape_configs[i];
    char q[YT_QUOTE_MAX];
    if (!sc) return errf(err, "no scrape config with job name %s", yt_quote(q, sizeof q, job_name));
    if (!n) return 0;
    config_static *all = yt_alloc(ctx, (sc->nstatic + n) * sizeof *all);
    if (sc->nstatic) memcpy(all, sc->static_configs, sc->nstatic * sizeof *all);
    XXH3_state_t *h = XXH3_createState();
    XXH3_64bits_reset(h);
    XXH3_64bits_update(h, &sc->targets_hash, sizeof sc->targets_hash);
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        const config_target_input *t = &in[i];
        yt_loader L = {.arena = ctx, .name = t->name ? t->name : "<target>", .dir = cfg->dir, .err = err};
        config_static *g = &all[sc->nstatic + i];
        memset(g, 0, sizeof *g);
        if ((rc = check_target(&L, NULL, t->address, 0, sc->nstatic + i))) break;
        g->targets = yt_alloc(ctx, sizeof *g->targets);
        g->targets[0] = yt_strdup(ctx, t->address);
        g->ntargets = 1;
        g->labels = yt_alloc(ctx, (t->nlabels ? t->nlabels : 1) * sizeof *g->labels);
        for (size_t k = 0; k < t->nlabels && !rc; k++) {
            const label *l = &t->labels[k];
            if (!label_name_valid(l->name, l->name_len))
                rc = yt_fail(&L, NULL, "%s is not a valid label name", yt_quote(q, sizeof q, l->name));
            else if (!utf8_valid(l->value, l->value_len))
                rc = yt_fail(&L, NULL, "%s is not a valid label value", yt_quote(q, sizeof q, l->value));
            for (size_t j = 0; j < k && !rc; j++)
                if (!strcmp(g->labels[j].name, l->name))
                    rc = yt_fail(&L, NULL, "key %s already set in map", yt_quote(q, sizeof q, l->name));
            if (rc) break;
            g->labels[k] = (label){yt_strndup(ctx, l->name, l->name_len), l->name_len,
                                   yt_strndup(ctx, l->value, l->value_len), l->value_len};
        }
        if (rc) break;
        g->nlabels = t->nlabels;
        labels_sort(g->labels, g->nlabels);
        const label *addr = labels_get(g->labels, g->nlabels, "__address__", 11);
        if (addr && strchr(addr->value, '/')) {
            rc = yt_fail(&L, NULL, "%s is not a valid hostname", yt_quote(q, sizeof q, addr->value));
            break;
        }
        XXH3_64bits_update(h, t->address, strlen(t->address) + 1);
        for (size_t k = 0; k < g->nlabels; k++) {
            XXH3_64bits_update(h, g->labels[k].name, g->labels[k].name_len + 1);
            XXH3_64bits_update(h, g->labels[k].value, g->labels[k].value_len + 1);
        }
        XXH3_64bits_update(h, "\n", 1);
    }
    if (!rc) {
        sc->targets_hash = XXH3_64bits_digest(h);
        sc->static_configs = all;
        sc->nstatic += n;
    }
    XXH3_freeState(h);
    return rc;
}
