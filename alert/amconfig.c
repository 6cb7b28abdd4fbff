/*
 * amconfig.c - decodes the `alerting:` section (see amconfig.h).
 *
 * Design.  The section is first copied out of the configuration file's
 * tree into an arena of its own, because the notifier keeps its decoded
 * form long after the file's configuration has been handed to the scrape
 * manager and freed.  Decoding then follows Alertmanager's
 * config.UnmarshalYAML: each route checks its own fields (group_by,
 * intervals, matchers), the root route gets the defaults and the checks
 * only the root has, children inherit what they do not set, and every
 * receiver a route names must exist.  Receivers are decoded by
 * alert/receivers.c.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "alert/amconfig.h"

#define DEFAULT_GROUP_WAIT_MS 30000
#define DEFAULT_GROUP_INTERVAL_MS (5 * 60000)
#define DEFAULT_REPEAT_INTERVAL_MS (4 * 3600000)
#define DEFAULT_RESOLVE_TIMEOUT_MS (5 * 60000)
#define DEFAULT_FORWARD_TIMEOUT_MS 10000

typedef struct {
    yt_arena *arena;
    am_matchers **matchers;     /* to free with the configuration */
    size_t nmatchers, cap;
    atomic_uint refs;
} am_ctx;

/* Keeps a matcher list for am_ctx_free (matchers own compiled regexes). */
static am_matchers *keep_matchers(am_ctx *c, am_matchers *m) {
    if (c->nmatchers == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 16;
        c->matchers = xrealloc(c->matchers, c->cap * sizeof *c->matchers);
    }
    c->matchers[c->nmatchers++] = m;
    return m;
}

/* ------------------------------------------------------------ matchers */

static int cmp_matcher(const void *a, const void *b) {
    const am_matcher *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    if (c) return c;
    if (x->type != y->type) return x->type < y->type ? -1 : 1;
    return strcmp(x->value, y->value);
}

/* Adds the matchers of a route or inhibit rule: the `matchers` strings
 * (Alertmanager's syntax, several per string allowed) and the deprecated
 * `match` (equality) and `match_re` (regex) maps.  Sorted afterwards as
 * Alertmanager sorts them, so route keys come out the same. */
static int decode_matchers(yt_loader *L, const yt_node *strings, const yt_node *match, const yt_node *match_re,
                           am_matchers *out) {
    char q[YT_QUOTE_MAX];
    if (strings && strings->kind != YT_NULL) {
        if (strings->kind != YT_SEQUENCE) return yt_type_error(L, strings, "config.Matchers");
        for (size_t i = 0; i < strings->n; i++) {
            const char *s = "";
            if (yt_string(L, strings->items[i], &s)) return -1;
            errbuf e;
            if (am_matchers_parse(out, s, &e)) return yt_fail(L, strings->items[i], "%s", e.msg);
        }
    }
    const yt_node *maps[2] = {match, match_re};
    for (int k = 0; k < 2; k++) {
        const yt_node *m = maps[k];
        if (!m || m->kind == YT_NULL) continue;
        if (m->kind != YT_MAPPING) return yt_type_error(L, m, k ? "config.MatchRegexps" : "map[string]string");
        for (size_t i = 0; i < m->n; i++) {
            const char *name = "", *value = "";
            if (yt_string(L, m->pairs[i].key, &name) || yt_string(L, m->pairs[i].value, &value)) return -1;
            if (!label_name_valid(name, strlen(name)))
                return yt_fail(L, m->pairs[i].key, "invalid label name %s", yt_quote(q, sizeof q, name));
            errbuf e;
            if (am_matcher_add(out, k ? AM_MATCH_RE : AM_MATCH_EQ, name, value, &e))
                return yt_fail(L, m->pairs[i].value, "%s", e.msg);
        }
    }
    if (out->n > 1) qsort(out->v, out->n, sizeof *out->v, cmp_matcher);
    return 0;
}

/* ------------------------------------------------------------ routes */

static int decode_route(yt_loader *L, am_ctx *c, const yt_node *n, am_route *parent, am_route **out);

/* A label-name list (group_by, equal), with Alertmanager's checks. */
static int decode_label_names(yt_loader *L, const yt_node *n, const char *list_name, const char ***out, size_t *nout,
                              int allow_all, int *all) {
    const char **v;
    size_t nv;
    if (yt_string_list(L, n, "[]string", &v, &nv, NULL)) return -1;
    char q[YT_QUOTE_MAX];
    size_t o = 0;
    for (size_t i = 0; i < nv; i++) {
        const yt_node *at = n->items[i];
        if (allow_all && !strcmp(v[i], "...")) {
            *all = 1;
            continue;
        }
        if (!label_name_valid(v[i], strlen(v[i])))
            return yt_fail(L, at, "invalid label name %s in %s list", yt_quote(q, sizeof q, v[i]), list_name);
        for (size_t j = 0; j < o; j++)
            if (!strcmp(v[j], v[i])) return yt_fail(L, at, "duplicated label %s in %s", yt_quote(q, sizeof q, v[i]), list_name);
        v[o++] = v[i];
    }
    if (allow_all && *all && o)
        return yt_fail(L, n, "cannot have wildcard group_by (`...`) and other other labels at the same time");
    for (size_t i = 1; i < o; i++)
        for (size_t j = i; j > 0 && strcmp(v[j - 1], v[j]) > 0; j--) {
            const char *t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    *out = v;
    *nout = o;
    return 0;
}

/* One route and its children.  Values not set are inherited from parent
 * afterwards (inherit()), as Alertmanager's NewRoute does. */
static int decode_route(yt_loader *L, am_ctx *c, const yt_node *n, am_route *parent, am_route **out) {
    static const char *const known[] = {"receiver", "group_by", "continue", "matchers", "match", "match_re",
                                        "group_wait", "group_interval", "repeat_interval", "routes", NULL};
    static const char *const unsupported[] = {"mute_time_intervals", "active_time_intervals", NULL};
    if (yt_expect_mapping(L, n, "config.Route") || yt_check_fields(L, n, "config.Route", known, unsupported))
        return -1;
    am_route *r = yt_alloc(c->arena, sizeof *r);
    r->parent = parent;
    r->line = n->line;
    r->group_wait_ms = r->group_interval_ms = r->repeat_interval_ms = -1;
    keep_matchers(c, &r->matchers);
    if (yt_string(L, yt_field(n, "receiver"), &r->receiver_name)) return -1;
    if (r->receiver_name && !*r->receiver_name) r->receiver_name = NULL;
    const yt_node *gb = yt_field(n, "group_by");
    /* An empty list inherits too: Alertmanager keeps GroupBy nil then. */
    int has_group_by = gb && gb->kind == YT_SEQUENCE && gb->n > 0;
    if (decode_label_names(L, gb, "group_by", &r->group_by, &r->ngroup_by, 1, &r->group_by_all)) return -1;
    if (!has_group_by) r->ngroup_by = (size_t)-1; /* inherit */
    if (yt_bool(L, yt_field(n, "continue"), &r->continue_matching)) return -1;
    if (decode_matchers(L, yt_field(n, "matchers"), yt_field(n, "match"), yt_field(n, "match_re"), &r->matchers))
        return -1;
    static const char *const iv_names[] = {"group_wait", "group_interval", "repeat_interval"};
    int64_t *ivs[] = {&r->group_wait_ms, &r->group_interval_ms, &r->repeat_interval_ms};
    for (int i = 0; i < 3; i++) {
        const yt_node *v = yt_field(n, iv_names[i]);
        if (!v || v->kind == YT_NULL) continue;
        int64_t ms = 0;
        if (yt_duration(L, v, &ms)) return -1;
        if (i > 0 && ms == 0) return yt_fail(L, v, "%s cannot be zero", iv_names[i]);
        *ivs[i] = ms;
    }
    const yt_node *routes = yt_field(n, "routes");
    if (routes && routes->kind != YT_NULL) {
        if (routes->kind != YT_SEQUENCE) return yt_type_error(L, routes, "[]*config.Route");
        r->routes = yt_alloc(c->arena, (routes->n ? routes->n : 1) * sizeof *r->routes);
        for (size_t i = 0; i < routes->n; i++)
            if (decode_route(L, c, routes->items[i], r, &r->routes[i])) return -1;
        r->nroutes = routes->n;
    }
    *out = r;
    return 0;
}

/* Fills inherited values top-down, computes route keys and resolves
 * receivers (Alertmanager's checkReceiver: every name must exist). */
static int inherit(yt_loader *L, am_ctx *c, am_route *r, const receiver_set *rs) {
    am_route *p = r->parent;
    if (p) {
        if (!r->receiver_name) r->receiver_name = p->receiver_name;
        if (r->ngroup_by == (size_t)-1) {
            r->group_by = p->group_by;
            r->ngroup_by = p->ngroup_by;
            r->group_by_all = p->group_by_all;
        }
        if (r->group_wait_ms < 0) r->group_wait_ms = p->group_wait_ms;
        if (r->group_interval_ms < 0) r->group_interval_ms = p->group_interval_ms;
        if (r->repeat_interval_ms < 0) r->repeat_interval_ms = p->repeat_interval_ms;
    }
    buf key = {0};
    if (p) buf_printf(&key, "%s/", p->key);
    am_matchers_format(&r->matchers, &key);
    r->key = yt_strndup(c->arena, (const char *)key.data, key.len);
    buf_free(&key);
    char q[YT_QUOTE_MAX];
    r->receiver = receiver_set_find(rs, r->receiver_name);
    if (!r->receiver)
        return errf(L->err, "%s:%d: undefined receiver %s used in route", L->name, r->line,
                    yt_quote(q, sizeof q, r->receiver_name));
    for (size_t i = 0; i < r->nroutes; i++)
        if (inherit(L, c, r->routes[i], rs)) return -1;
    return 0;
}

size_t am_route_match(const am_route *r, const label *ls, size_t n, const am_route **out, size_t cap) {
    if (!am_matchers_match(&r->matchers, ls, n)) return 0;
    size_t found = 0;
    for (size_t i = 0; i < r->nroutes; i++) {
        size_t k = am_route_match(r->routes[i], ls, n, out + found, cap - found);
        found += k;
        if (k && !r->routes[i]->continue_matching) break;
        if (found == cap) break;
    }
    if (!found && cap) out[found++] = r;
    return found;
}

/* ------------------------------------------------------------ inhibition */

static int decode_inhibit(yt_loader *L, am_ctx *c, const yt_node *n, am_inhibit_rule *r) {
    static const char *const known[] = {"source_matchers", "target_matchers", "source_match", "source_match_re",
                                        "target_match", "target_match_re", "equal", NULL};
    if (yt_expect_mapping(L, n, "config.InhibitRule") || yt_check_fields(L, n, "config.InhibitRule", known, NULL))
        return -1;
    r->line = n->line;
    keep_matchers(c, &r->source);
    keep_matchers(c, &r->target);
    int all = 0;
    if (decode_matchers(L, yt_field(n, "source_matchers"), yt_field(n, "source_match"), yt_field(n, "source_match_re"),
                        &r->source) ||
        decode_matchers(L, yt_field(n, "target_matchers"), yt_field(n, "target_match"), yt_field(n, "target_match_re"),
                        &r->target) ||
        decode_label_names(L, yt_field(n, "equal"), "equal", &r->equal, &r->nequal, 0, &all))
        return -1;
    return 0;
}

/* ------------------------------------------------------------ forwarding */

/* One alertmanagers entry.  Its HTTP client settings sit beside the
 * other keys (Prometheus inlines HTTPClientConfig), so they are handed to
 * the http_config decoder as a mapping of their own. */
static int decode_forward(yt_loader *L, am_ctx *c, const yt_node *n, am_forward *f) {
    static const char *const http_keys[] = {"basic_auth", "authorization", "bearer_token", "bearer_token_file",
                                            "tls_config", "proxy_url", "follow_redirects", "enable_http2", NULL};
    static const char *const known[] = {"static_configs", "scheme", "path_prefix", "timeout", "api_version",
                                        "basic_auth", "authorization", "bearer_token", "bearer_token_file",
                                        "tls_config", "proxy_url", "follow_redirects", "enable_http2", NULL};
    static const char *const unsupported[] = {
        "relabel_configs", "alert_relabel_configs", "oauth2", "sigv4", "file_sd_configs", "dns_sd_configs",
        "consul_sd_configs", "kubernetes_sd_configs", "ec2_sd_configs", "azure_sd_configs", "gce_sd_configs",
        "http_sd_configs", "no_proxy", "proxy_from_environment", "proxy_connect_header", NULL};
    if (yt_expect_mapping(L, n, "config.AlertmanagerConfig") ||
        yt_check_fields(L, n, "config.AlertmanagerConfig", known, unsupported))
        return -1;
    f->line = n->line;
    f->scheme = "http";
    f->path_prefix = "";
    f->timeout_ms = DEFAULT_FORWARD_TIMEOUT_MS;
    const char *api = "v2";
    char q[YT_QUOTE_MAX];
    if (yt_string(L, yt_field(n, "scheme"), &f->scheme) || yt_string(L, yt_field(n, "path_prefix"), &f->path_prefix) ||
        yt_duration(L, yt_field(n, "timeout"), &f->timeout_ms) || yt_string(L, yt_field(n, "api_version"), &api))
        return -1;
    if (strcmp(f->scheme, "http") && strcmp(f->scheme, "https"))
        return yt_fail(L, yt_field(n, "scheme"), "scheme %s is not supported: want \"http\" or \"https\"",
                       yt_quote(q, sizeof q, f->scheme));
    if (!strcmp(api, "v1"))
        return yt_fail(L, yt_field(n, "api_version"), "api_version \"v1\" is not supported by promlite: use \"v2\"");
    if (strcmp(api, "v2")) return yt_fail(L, yt_field(n, "api_version"), "expected Alertmanager api version to be one of [v1 v2] but got %s", yt_quote(q, sizeof q, api));
    size_t pl = strlen(f->path_prefix);
    while (pl && f->path_prefix[pl - 1] == '/') pl--;
    f->path_prefix = yt_strndup(c->arena, f->path_prefix, pl);
    /* The HTTP settings, as their own mapping. */
    yt_node *http = yt_alloc(c->arena, sizeof *http);
    *http = *n;
    http->pairs = yt_alloc(c->arena, (n->n ? n->n : 1) * sizeof *http->pairs);
    http->n = 0;
    for (size_t i = 0; i < n->n; i++)
        if (n->pairs[i].key->kind == YT_SCALAR && yt_in_list(n->pairs[i].key->value, http_keys, 8))
            http->pairs[http->n++] = n->pairs[i];
    if (receiver_http_decode(L, http, &f->http)) return -1;
    const yt_node *sc = yt_field(n, "static_configs");
    if (sc && sc->kind != YT_NULL) {
        if (sc->kind != YT_SEQUENCE) return yt_type_error(L, sc, "[]*targetgroup.Group");
        size_t total = 0;
        for (size_t i = 0; i < sc->n; i++) {
            const yt_node *t = yt_field(sc->items[i], "targets");
            if (t && t->kind == YT_SEQUENCE) total += t->n;
        }
        f->targets = yt_alloc(c->arena, (total ? total : 1) * sizeof *f->targets);
        static const char *const group_known[] = {"targets", "labels", NULL};
        for (size_t i = 0; i < sc->n; i++) {
            const yt_node *g = sc->items[i];
            if (yt_expect_mapping(L, g, "targetgroup.plain") || yt_check_fields(L, g, "targetgroup.plain", group_known, NULL))
                return -1;
            const char **ts;
            size_t nt;
            if (yt_string_list(L, yt_field(g, "targets"), "[]string", &ts, &nt, NULL)) return -1;
            for (size_t k = 0; k < nt; k++) {
                if (!*ts[k] || strchr(ts[k], '/'))
                    return yt_fail(L, yt_field(g, "targets")->items[k], "%s is not a valid hostname",
                                   yt_quote(q, sizeof q, ts[k]));
                f->targets[f->ntargets++] = ts[k];
            }
        }
    }
    return 0;
}

/* ------------------------------------------------------------ the section */

static void hash_node(XXH3_state_t *h, const yt_node *n) {
    XXH3_64bits_update(h, &n->kind, sizeof n->kind);
    if (n->value) XXH3_64bits_update(h, n->value, n->len + 1);
    if (n->tag) XXH3_64bits_update(h, n->tag, strlen(n->tag) + 1);
    for (size_t i = 0; i < n->n; i++) {
        if (n->kind == YT_SEQUENCE) hash_node(h, n->items[i]);
        else hash_node(h, n->pairs[i].key), hash_node(h, n->pairs[i].value);
    }
    XXH3_64bits_update(h, "]", 1);
}

static void am_ctx_free(am_ctx *c) {
    for (size_t i = 0; i < c->nmatchers; i++) am_matchers_free(c->matchers[i]);
    free(c->matchers);
    yt_arena_free(c->arena);
    free(c);
}

am_config *amconfig_retain(am_config *cfg) {
    am_ctx *c = cfg->priv;
    atomic_fetch_add(&c->refs, 1);
    return cfg;
}

void amconfig_free(am_config *cfg) {
    if (!cfg) return;
    am_ctx *c = cfg->priv;
    if (atomic_fetch_sub(&c->refs, 1) == 1) am_ctx_free(c);
}

int amconfig_decode(const yt_node *alerting, const char *name, const char *dir, am_config **out, errbuf *err) {
    *out = NULL;
    am_ctx *c = xcalloc(1, sizeof *c);
    c->arena = yt_arena_new();
    atomic_init(&c->refs, 1);
    am_config *cfg = yt_alloc(c->arena, sizeof *cfg);
    cfg->priv = c;
    cfg->resolve_timeout_ms = DEFAULT_RESOLVE_TIMEOUT_MS;
    yt_loader L = {.arena = c->arena, .name = yt_strdup(c->arena, name ? name : "<config>"),
                   .dir = yt_strdup(c->arena, dir ? dir : "."), .err = err};
    const yt_node *n = yt_copy(c->arena, alerting);
    static const char *const known[] = {"alertmanagers", "global", "route", "receivers", "inhibit_rules", NULL};
    static const char *const unsupported[] = {"alert_relabel_configs", "templates", "time_intervals",
                                              "mute_time_intervals", NULL};
    static const char *const global_known[] = {"resolve_timeout", "http_config", "slack_api_url",
                                               "slack_api_url_file", "telegram_api_url", NULL};
    static const char *const global_unsupported[] = {
        "smtp_from", "smtp_hello", "smtp_smarthost", "smtp_auth_username", "smtp_auth_password",
        "smtp_auth_password_file", "smtp_auth_secret", "smtp_auth_identity", "smtp_require_tls", "pagerduty_url",
        "opsgenie_api_url", "opsgenie_api_key", "opsgenie_api_key_file", "wechat_api_url", "wechat_api_secret",
        "wechat_api_corp_id", "victorops_api_url", "victorops_api_key", "victorops_api_key_file", "webex_api_url",
        NULL};
    if (n && (yt_expect_mapping(&L, n, "config.AlertingConfig") ||
              yt_check_fields(&L, n, "config.AlertingConfig", known, unsupported)))
        goto fail;
    if (n) {
        XXH3_state_t *h = XXH3_createState();
        XXH3_64bits_reset(h);
        hash_node(h, n);
        XXH3_64bits_update(h, L.dir, strlen(L.dir) + 1);
        cfg->source_hash = XXH3_64bits_digest(h);
        XXH3_freeState(h);
    }
    const yt_node *ams = yt_field(n, "alertmanagers");
    if (ams && ams->kind != YT_NULL) {
        if (ams->kind != YT_SEQUENCE) {
            yt_type_error(&L, ams, "[]*config.AlertmanagerConfig");
            goto fail;
        }
        cfg->forwards = yt_alloc(c->arena, (ams->n ? ams->n : 1) * sizeof *cfg->forwards);
        for (size_t i = 0; i < ams->n; i++)
            if (decode_forward(&L, c, ams->items[i], &cfg->forwards[i])) goto fail;
        cfg->nforwards = ams->n;
    }
    const yt_node *global = yt_field(n, "global"), *route = yt_field(n, "route"), *recv = yt_field(n, "receivers");
    receiver_globals g = {0};
    if (global && global->kind != YT_NULL) {
        if (yt_expect_mapping(&L, global, "config.GlobalConfig") ||
            yt_check_fields(&L, global, "config.GlobalConfig", global_known, global_unsupported) ||
            yt_duration(&L, yt_field(global, "resolve_timeout"), &cfg->resolve_timeout_ms) ||
            receiver_globals_decode(&L, global, &g))
            goto fail;
    }
    if (receivers_decode(&L, recv, &g, &cfg->receivers)) goto fail;
    int have_route = route && route->kind != YT_NULL;
    if (!have_route && cfg->receivers && cfg->receivers->n) {
        yt_fail(&L, recv, "no routes provided");
        goto fail;
    }
    if (have_route) {
        if (decode_route(&L, c, route, NULL, &cfg->route)) goto fail;
        am_route *r = cfg->route;
        if (!r->receiver_name) {
            yt_fail(&L, route, "root route must specify a default receiver");
            goto fail;
        }
        if (r->matchers.n) {
            yt_fail(&L, route, "root route must not have any matchers");
            goto fail;
        }
        if (r->continue_matching) {
            yt_fail(&L, route, "cannot have continue in root route");
            goto fail;
        }
        if (r->ngroup_by == (size_t)-1) r->ngroup_by = 0;
        if (r->group_wait_ms < 0) r->group_wait_ms = DEFAULT_GROUP_WAIT_MS;
        if (r->group_interval_ms < 0) r->group_interval_ms = DEFAULT_GROUP_INTERVAL_MS;
        if (r->repeat_interval_ms < 0) r->repeat_interval_ms = DEFAULT_REPEAT_INTERVAL_MS;
        if (inherit(&L, c, r, cfg->receivers)) goto fail;
    }
    const yt_node *inh = yt_field(n, "inhibit_rules");
    if (inh && inh->kind != YT_NULL) {
        if (inh->kind != YT_SEQUENCE) {
            yt_type_error(&L, inh, "[]*config.InhibitRule");
            goto fail;
        }
        cfg->inhibit_rules = yt_alloc(c->arena, (inh->n ? inh->n : 1) * sizeof *cfg->inhibit_rules);
        for (size_t i = 0; i < inh->n; i++)
            if (decode_inhibit(&L, c, inh->items[i], &cfg->inhibit_rules[i])) goto fail;
        cfg->ninhibit_rules = inh->n;
    }
    *out = cfg;
    return 0;
fail:
    am_ctx_free(c);
    return -1;
}
