/*
 * receivers.c - see receivers.h.
 *
 * Design.  Decoding follows Alertmanager's config package: one decoder per
 * Go type, each checking its mapping's keys first (so an unknown key reads
 * "field x not found in type config.plain", which is what yaml.v2 says of
 * Alertmanager's types, all of which decode through a `plain` alias),
 * then fields with yamltree's typed decoders, then the type's own checks
 * in Alertmanager's order.  The checks of Config.UnmarshalYAML (unique
 * names, the global Slack URL) run after all entries are decoded, as
 * there.  Template texts, configured or default, are parsed at load time.
 *
 * Building.  A notification first becomes Alertmanager's template data
 * (status, common labels and annotations derived as template.Data does,
 * the receiver name passed through regexp.QuoteMeta as Alertmanager
 * does).  The webhook body is that data serialised exactly as Go's
 * encoding/json serialises Alertmanager's webhook.Message: struct fields
 * in declaration order, map keys sorted, HTML-significant characters
 * escaped (\u003c, \u003e, \u0026), invalid UTF-8 replaced by \ufffd,
 * times in RFC 3339 with trailing zeros of the fraction dropped, and the
 * newline json.Encoder ends with.  The same writer serves the other
 * payloads, so every body reads as Alertmanager (or the platform's
 * documented example) would send it, byte for byte where a reference
 * exists.  jansson is used only to read answers.
 *
 * Size limits.  Each chat platform caps a message (Telegram 4096
 * characters, Discord's embed description 4096 and title 256, Slack's
 * text 40000 and title 1024 characters, DingTalk 20000 bytes, WeCom's
 * markdown 4096 bytes, Feishu's request body 20 KB).  A message that is
 * too long is rendered again over the group's first alerts only, as many
 * as fit (found by bisection: the text grows with the alerts), with a line
 * "… and N more alerts" appended.  In that rendering .Alerts (and so
 * .Alerts.Firing and .Alerts.Resolved) holds the alerts listed, while
 * .Status and the common labels and annotations still describe the whole
 * group, as does the title, rendered separately.  Only if not even the
 * line alone fits is the full text cut, at a character boundary, with "…"
 * as Alertmanager's Truncate does.  Counting is in characters (runes) or bytes as each platform
 * counts, and a cut never splits a UTF-8 sequence.
 *
 * Templates.  Everything that touches the template engine is in one
 * section ("template hook"): parsing a text at load time with the default
 * definitions available, and executing it over the data.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "alert/receivers.h"
#include "alert/template.h"
#include "common/timeutil.h"

#define SECRET_FILE_MAX (64u << 10)
#define DEFAULT_TELEGRAM_API_URL "https://api.telegram.org"

/* ------------------------------------------------------------ UTF-8 */

/* Decodes one UTF-8 sequence at p (n > 0 bytes available) as Go's
 * utf8.DecodeRune does: returns the code point and sets *size, or returns
 * -1 with *size 1 for an invalid, overlong, surrogate or truncated
 * sequence. */
static long utf8_decode(const unsigned char *p, size_t n, size_t *size) {
    *size = 1;
    unsigned c = p[0];
    if (c < 0x80) return (long)c;
    size_t len;
    unsigned long cp, min;
    if (c >= 0xc2 && c <= 0xdf) len = 2, cp = c & 0x1f, min = 0x80;
    else if (c >= 0xe0 && c <= 0xef) len = 3, cp = c & 0x0f, min = 0x800;
    else if (c >= 0xf0 && c <= 0xf4) len = 4, cp = c & 0x07, min = 0x10000;
    else return -1;
    if (n < len) return -1;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80) return -1;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return -1;
    *size = len;
    return (long)cp;
}

/* The number of characters in s[0..n) as Go counts runes (each invalid
 * byte is one). */
static size_t utf8_runes(const char *s, size_t n) {
    size_t count = 0, i = 0, sz;
    while (i < n) {
        utf8_decode((const unsigned char *)s + i, n - i, &sz);
        i += sz;
        count++;
    }
    return count;
}

/* The byte length of the longest prefix of s[0..n) with at most max
 * characters (by_bytes: at most max bytes), ending on a character
 * boundary. */
static size_t utf8_prefix(const char *s, size_t n, size_t max, int by_bytes) {
    size_t i = 0, count = 0, sz;
    while (i < n) {
        utf8_decode((const unsigned char *)s + i, n - i, &sz);
        if (by_bytes ? i + sz > max : count + 1 > max) break;
        i += sz;
        count++;
    }
    return i;
}

/* The size of s[0..n) in the platform's unit. */
static size_t text_size(const char *s, size_t n, int by_bytes) { return by_bytes ? n : utf8_runes(s, n); }

/* Cuts b to at most max units as Alertmanager's notify.Truncate: when it
 * is longer, keep max-1 units and append "…" (one character, three
 * bytes).  Returns whether it cut. */
static int truncate_text(buf *b, size_t max, int by_bytes) {
    if (text_size((const char *)b->data, b->len, by_bytes) <= max) return 0;
    size_t ell = by_bytes ? 3 : 1;
    if (max <= 3) {
        b->len = utf8_prefix((const char *)b->data, b->len, max, by_bytes);
        return 1;
    }
    b->len = utf8_prefix((const char *)b->data, b->len, max - ell, by_bytes);
    buf_append(b, "\xe2\x80\xa6", 3);
    return 1;
}

/* ------------------------------------------------------------ JSON, as Go writes it */

/* Appends s[0..n) as a JSON string the way Go's encoding/json does with
 * HTML escaping on (the default of json.Marshal and json.Encoder). */
static void go_json_string(buf *b, const char *s, size_t n) {
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    buf_reserve(b, n + 2);
    buf_append(b, "\"", 1);
    size_t start = 0, i = 0;
    while (i < n) {
        unsigned c = p[i];
        if (c < 0x80) {
            if (c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&') {
                i++;
                continue;
            }
            buf_append(b, s + start, i - start);
            char esc[6] = {'\\', 0, 0, 0, 0, 0};
            size_t elen = 2;
            switch (c) {
            case '"': esc[1] = '"'; break;
            case '\\': esc[1] = '\\'; break;
            case '\b': esc[1] = 'b'; break;
            case '\f': esc[1] = 'f'; break;
            case '\n': esc[1] = 'n'; break;
            case '\r': esc[1] = 'r'; break;
            case '\t': esc[1] = 't'; break;
            default:
                esc[1] = 'u', esc[2] = '0', esc[3] = '0', esc[4] = hex[c >> 4], esc[5] = hex[c & 15];
                elen = 6;
            }
            buf_append(b, esc, elen);
            start = ++i;
            continue;
        }
        size_t sz;
        long cp = utf8_decode(p + i, n - i, &sz);
        if (cp < 0 || cp == 0x2028 || cp == 0x2029) {
            buf_append(b, s + start, i - start);
            buf_append(b, cp < 0 ? "\\ufffd" : cp == 0x2028 ? "\\u2028" : "\\u2029", 6);
            start = i + sz;
        }
        i += sz;
    }
    buf_append(b, s + start, n - start);
    buf_append(b, "\"", 1);
}

/* A JSON writer that places the commas: values and keys are appended in
 * order; begin/end open and close objects and arrays. */
typedef struct {
    buf *b;
    int depth;
    unsigned char used[64];     /* per nesting level: something written */
    int after_key;
} jw;

static void jw_sep(jw *w) {
    if (w->after_key) {
        w->after_key = 0;
        return;
    }
    if (w->depth > 0) {
        if (w->used[w->depth]) buf_append(w->b, ",", 1);
        w->used[w->depth] = 1;
    }
}
static void jw_begin(jw *w, char c) {
    jw_sep(w);
    buf_append(w->b, &c, 1);
    w->depth++;
    w->used[w->depth] = 0;
}
static void jw_end(jw *w, char c) {
    buf_append(w->b, &c, 1);
    w->depth--;
}
static void jw_key(jw *w, const char *k) {
    jw_sep(w);
    go_json_string(w->b, k, strlen(k));
    buf_append(w->b, ":", 1);
    w->after_key = 1;
}
static void jw_strn(jw *w, const char *s, size_t n) {
    jw_sep(w);
    go_json_string(w->b, s ? s : "", s ? n : 0);
}
static void jw_str(jw *w, const char *s) { jw_strn(w, s, s ? strlen(s) : 0); }
static void jw_int(jw *w, long long v) {
    jw_sep(w);
    buf_printf(w->b, "%lld", v);
}
static void jw_bool(jw *w, int v) {
    jw_sep(w);
    buf_append(w->b, v ? "true" : "false", v ? 4 : 5);
}
/* key and string value; omitempty skips an empty value as Go's
 * `json:",omitempty"` does. */
static void jw_kv(jw *w, const char *k, const char *v, int omitempty) {
    if (omitempty && (!v || !*v)) return;
    jw_key(w, k);
    jw_str(w, v);
}
static void jw_kvn(jw *w, const char *k, const char *v, size_t n, int omitempty) {
    if (omitempty && !n) return;
    jw_key(w, k);
    jw_strn(w, v, n);
}
/* A label set as Go's map[string]string: keys sorted bytewise (our sets
 * are sorted by name already). */
static void jw_labels(jw *w, const label *l, size_t n) {
    jw_begin(w, '{');
    for (size_t i = 0; i < n; i++) {
        jw_sep(w);
        go_json_string(w->b, l[i].name, l[i].name_len);
        buf_append(w->b, ":", 1);
        go_json_string(w->b, l[i].value, l[i].value_len);
    }
    jw_end(w, '}');
}

/* ------------------------------------------------------------ times, as Go prints them */

/* Go's time.Time MarshalJSON of a UTC time: RFC 3339 with the fraction's
 * trailing zeros dropped ("2024-01-02T03:04:05.12Z", "...:05Z"); the zero
 * time (unset) is "0001-01-01T00:00:00Z". */
static void go_time_json(int64_t ms, int unset, char *out, size_t cap) {
    if (unset) {
        snprintf(out, cap, "0001-01-01T00:00:00Z");
        return;
    }
    char t[64];
    format_time(ms, t, sizeof t);           /* YYYY-MM-DDTHH:MM:SS.mmmZ */
    char *dot = strchr(t, '.');
    if (dot) {
        char *z = dot + 4;
        while (z > dot + 1 && z[-1] == '0') z--;
        if (z == dot + 1) z = dot;
        memmove(z, "Z", 2);
    }
    snprintf(out, cap, "%s", t);
}

/* ------------------------------------------------------------ fingerprints */

uint64_t am_fingerprint(const label *l, size_t n) {
    uint64_t h = 14695981039346656037ULL;
    for (size_t i = 0; i < n; i++) {
        for (uint32_t k = 0; k < l[i].name_len; k++) h = (h ^ (unsigned char)l[i].name[k]) * 1099511628211ULL;
        h = (h ^ 0xff) * 1099511628211ULL;
        for (uint32_t k = 0; k < l[i].value_len; k++) h = (h ^ (unsigned char)l[i].value[k]) * 1099511628211ULL;
        h = (h ^ 0xff) * 1099511628211ULL;
    }
    return h;
}

/* Go's regexp.QuoteMeta: a backslash before each of \.+*?()|[]{}^$. */
static char *quote_meta(const char *s) {
    buf b = {0};
    for (const char *p = s; *p; p++) {
        if (strchr("\\.+*?()|[]{}^$", *p)) buf_append(&b, "\\", 1);
        buf_append(&b, p, 1);
    }
    buf_append(&b, "", 1);
    return (char *)b.data;
}

/* ------------------------------------------------------------ names */

const char *receiver_type_name(receiver_type t) {
    switch (t) {
    case RECEIVER_WEBHOOK: return "webhook";
    case RECEIVER_SLACK: return "slack";
    case RECEIVER_TELEGRAM: return "telegram";
    case RECEIVER_DISCORD: return "discord";
    case RECEIVER_DINGTALK: return "dingtalk";
    case RECEIVER_WECOM: return "wecom";
    case RECEIVER_FEISHU: return "feishu";
    }
    return "unknown";
}

/* ------------------------------------------------------------ template hook (declarations) */

/* The template data of one notification (Alertmanager's template.Data)
 * before it becomes the engine's values: alerts may be a prefix of the
 * group when a message is shortened to fit. */
typedef struct tdata {
    const char *receiver;           /* QuoteMeta'd */
    const char *status;             /* of the whole (filtered) group */
    const am_alert *const *alerts;  /* the alerts the template sees */
    size_t nalerts;
    const label *group_labels;
    size_t ngroup_labels;
    label *common_labels;
    size_t ncommon_labels;
    label *common_annotations;
    size_t ncommon_annotations;
    const char *external_url;
} tdata;

/* The default definitions every integration's templates may call. */
typedef struct rt_defaults rt_defaults;
static rt_defaults *hook_defaults(yt_loader *L);
/* Parses src at load time; at is where it was configured (NULL for a
 * built-in default).  Sets *out (NULL for an empty text, which renders
 * nothing). */
static int hook_parse(yt_loader *L, rt_defaults *d, const yt_node *at, const char *field, const char *src,
                      const void **out);
/* Executes a parsed template over the data, appending to out. */
static int hook_exec(const void *t, const tdata *d, int html_escape, buf *out, errbuf *err);

/* ------------------------------------------------------------ configuration: values */

/* Templated text fields of an integration, by index into the parsed set. */
enum {
    TF_TITLE, TF_MESSAGE, TF_CONTENT,
    TF_S_CHANNEL, TF_S_USERNAME, TF_S_COLOR, TF_S_TITLE_LINK, TF_S_PRETEXT, TF_S_TEXT, TF_S_FALLBACK,
    TF_S_CALLBACK_ID, TF_S_ICON_EMOJI, TF_S_ICON_URL, TF_S_IMAGE_URL, TF_S_THUMB_URL, TF_S_FOOTER,
    TF_N
};

typedef struct integ_priv {
    const void *t[TF_N];            /* parsed templates; NULL renders "" */
} integ_priv;

/* A string field that Go would zero when given as null: absent leaves the
 * default, null sets "", a scalar its text. */
static int text_field(yt_loader *L, const yt_node *map, const char *key, const char **out) {
    const yt_node *n = yt_field(map, key);
    if (!n) return 0;
    if (n->kind == YT_NULL) {
        *out = "";
        return 0;
    }
    return yt_string(L, n, out);
}

/* A signed integer (Go's int64 from a YAML !!int); `into` names the type. */
static int int64_field(yt_loader *L, const yt_node *n, int64_t *out, const char *into) {
    if (!n || n->kind == YT_NULL) return 0;
    if (n->kind != YT_SCALAR || strcmp(n->tag, "!!int")) return yt_type_error(L, n, into);
    char digits[64];
    size_t k = 0;
    for (const char *p = n->value; *p && k + 1 < sizeof digits; p++)
        if (*p != '_') digits[k++] = *p;
    digits[k] = 0;
    errno = 0;
    char *end;
    long long v = strtoll(digits, &end, 0);
    if (errno || *end) return yt_type_error(L, n, into);
    *out = v;
    return 0;
}

/* Alertmanager's parseURL: Go's url.Parse, then scheme http or https and
 * a host.  Go's messages where url.Parse itself refuses. */
static int check_url(yt_loader *L, const yt_node *at, const char *u) {
    char q[YT_QUOTE_MAX];
    for (const unsigned char *p = (const unsigned char *)u; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return yt_fail(L, at, "parse %s: net/url: invalid control character in URL", yt_quote(q, sizeof q, u));
    /* getScheme */
    size_t slen = 0;
    int has_scheme = 0;
    if (*u == ':') return yt_fail(L, at, "parse %s: missing protocol scheme", yt_quote(q, sizeof q, u));
    for (const char *p = u; *p; p++) {
        if (isalpha((unsigned char)*p)) continue;
        if (p > u && (isdigit((unsigned char)*p) || *p == '+' || *p == '-' || *p == '.')) continue;
        if (*p == ':' && p > u) {
            has_scheme = 1;
            slen = (size_t)(p - u);
        }
        break;
    }
    char scheme[32] = "";
    if (has_scheme) {
        if (slen >= sizeof scheme) slen = sizeof scheme - 1;
        for (size_t i = 0; i < slen; i++) scheme[i] = (char)tolower((unsigned char)u[i]);
        scheme[slen] = 0;
    }
    const char *rest = has_scheme ? u + slen + 1 : u;
    /* The authority, when there is one, is between "//" and the first of
     * "/", "?", "#"; userinfo ends at its last "@". */
    const char *host = NULL, *host_end = NULL;
    if (has_scheme && !strncmp(rest, "//", 2)) {
        host = rest + 2;
        host_end = host + strcspn(host, "/?#");
        for (const char *p = host_end; p > host; p--)
            if (p[-1] == '@') {
                host = p;
                break;
            }
        const char *port = NULL;
        if (*host == '[') {
            const char *close = memchr(host, ']', (size_t)(host_end - host));
            if (!close) return yt_fail(L, at, "parse %s: missing ']' in host", yt_quote(q, sizeof q, u));
            if (close + 1 < host_end) port = close + 1;
        } else {
            for (const char *p = host_end; p > host; p--)
                if (p[-1] == ':') {
                    port = p - 1;
                    break;
                }
            for (const char *p = host; p < (port ? port : host_end); p++) {
                unsigned char c = (unsigned char)*p;
                if (c < 0x80 && !isalnum(c) && !strchr("-._~!$&'()*+,;=:[]<>\"%", c))
                    return yt_fail(L, at, "parse %s: invalid character \"%c\" in host name", yt_quote(q, sizeof q, u), c);
            }
        }
        if (port) {
            int ok = *port == ':';
            for (const char *p = port + 1; ok && p < host_end; p++) ok = isdigit((unsigned char)*p);
            if (!ok) {
                char pq[YT_QUOTE_MAX], ps[YT_QUOTE_MAX];
                size_t pl = (size_t)(host_end - port);
                snprintf(ps, sizeof ps, "%.*s", (int)(pl < 100 ? pl : 100), port);
                return yt_fail(L, at, "parse %s: invalid port %s after host", yt_quote(q, sizeof q, u),
                               yt_quote(pq, sizeof pq, ps));
            }
            host_end = port;
        }
    }
    if (strcmp(scheme, "http") && strcmp(scheme, "https"))
        return yt_fail(L, at, "unsupported scheme %s for URL", yt_quote(q, sizeof q, scheme));
    if (!host || host == host_end) return yt_fail(L, at, "missing host for URL");
    return 0;
}

/* A URL field (Alertmanager's URL and SecretURL types): absent or null
 * leaves *out; anything else must parse, "" included (Go's url.Parse("")
 * has no scheme). */
static int url_field(yt_loader *L, const yt_node *n, const char **out) {
    if (!n || n->kind == YT_NULL) return 0;
    const char *s = NULL;
    if (yt_string(L, n, &s) || check_url(L, n, s)) return -1;
    *out = s;
    return 0;
}

/* A file name field: "" counts as not given; resolved against L->dir. */
static int file_field(yt_loader *L, const yt_node *n, const char **out) {
    const char *s = NULL;
    if (yt_string(L, n, &s)) return -1;
    if (s && *s) *out = yt_join_dir(L, s);
    return 0;
}

/* ------------------------------------------------------------ configuration: http_config */

/* The fields themselves are read by ingest/config.c's HTTPClientConfig
 * decoder, shared with scrape configs; here the keys are checked. */
int receiver_http_decode(yt_loader *L, const yt_node *n, receiver_http *h) {
    static const char *const known[] = {"basic_auth", "authorization", "bearer_token", "bearer_token_file",
                                        "tls_config", "proxy_url", "follow_redirects", "enable_http2", NULL};
    static const char *const unsupported[] = {"oauth2", "proxy_connect_header", "no_proxy",
                                              "proxy_from_environment", "http_headers", NULL};
    memset(h, 0, sizeof *h);
    h->follow_redirects = 1;
    h->enable_http2 = 1;
    if (!n || n->kind == YT_NULL) return 0;
    if (yt_expect_mapping(L, n, "config.plain") || yt_check_fields(L, n, "config.plain", known, unsupported))
        return -1;
    return config_decode_http(L, n, h);
}

/* The http_config of an integration: its own, else the global one, else
 * the defaults. */
static int integration_http(yt_loader *L, const yt_node *map, const receiver_globals *g, const receiver_http **out) {
    const yt_node *n = yt_field(map, "http_config");
    if (n && n->kind != YT_NULL) {
        receiver_http *h = yt_alloc(L->arena, sizeof *h);
        if (receiver_http_decode(L, n, h)) return -1;
        *out = h;
        return 0;
    }
    if (g->http_config) {
        *out = g->http_config;
        return 0;
    }
    receiver_http *h = yt_alloc(L->arena, sizeof *h);
    receiver_http_decode(L, NULL, h);
    *out = h;
    return 0;
}

int receiver_globals_decode(yt_loader *L, const yt_node *global, receiver_globals *g) {
    memset(g, 0, sizeof *g);
    if (!global || global->kind == YT_NULL) return 0;
    if (yt_expect_mapping(L, global, "config.plain")) return -1;
    if (url_field(L, yt_field(global, "slack_api_url"), &g->slack_api_url) ||
        file_field(L, yt_field(global, "slack_api_url_file"), &g->slack_api_url_file) ||
        url_field(L, yt_field(global, "telegram_api_url"), &g->telegram_api_url))
        return -1;
    const yt_node *h = yt_field(global, "http_config");
    if (h && h->kind != YT_NULL) {
        receiver_http *hc = yt_alloc(L->arena, sizeof *hc);
        if (receiver_http_decode(L, h, hc)) return -1;
        g->http_config = hc;
    }
    if (g->slack_api_url && g->slack_api_url_file)
        return yt_fail(L, yt_field(global, "slack_api_url_file"),
                       "at most one of slack_api_url & slack_api_url_file must be configured");
    return 0;
}

/* ------------------------------------------------------------ configuration: integrations */

/* Alertmanager's default texts (config.DefaultXConfig), by field. */
#define DEF(name) "{{ template \"" name "\" . }}"

/* What every integration shares: position, send_resolved, http_config. */
static int decode_common(yt_loader *L, const yt_node *n, const receiver_globals *g, int send_resolved,
                         receiver_integration *ri) {
    ri->line = n->line;
    ri->send_resolved = send_resolved;
    if (yt_bool(L, yt_field(n, "send_resolved"), &ri->send_resolved)) return -1;
    return integration_http(L, n, g, &ri->http);
}

/* Parses the integration's templates (configured or default) into its
 * private part.  srcs[i] is the text of field i, nodes[i] where it was
 * configured (NULL: a default). */
static int parse_templates(yt_loader *L, rt_defaults *d, receiver_integration *ri, const char *const *srcs,
                           const yt_node *const *nodes, const char *const *names) {
    integ_priv *p = yt_alloc(L->arena, sizeof *p);
    for (int i = 0; i < TF_N; i++)
        if (srcs[i] && hook_parse(L, d, nodes[i], names[i], srcs[i], &p->t[i])) return -1;
    ri->priv = p;
    return 0;
}

/* One text field: its configured value (or default) into *dst, and the
 * source and node into the template tables at index i. */
static int tmpl_field(yt_loader *L, const yt_node *map, const char *key, const char **dst, int i, const char **srcs,
                      const yt_node **nodes, const char **names) {
    if (text_field(L, map, key, dst)) return -1;
    const yt_node *at = yt_field(map, key);
    srcs[i] = *dst;
    nodes[i] = at && at->kind != YT_NULL ? at : NULL;
    names[i] = key;
    return 0;
}

/* webhook_configs: WebhookConfig.UnmarshalYAML's fields and checks. */
static int decode_webhook(yt_loader *L, const yt_node *n, const receiver_globals *g, receiver_integration *ri) {
    static const char *const known[] = {"send_resolved", "http_config", "url", "url_file", "max_alerts", "timeout",
                                        NULL};
    if (yt_check_fields(L, n, "config.plain", known, NULL) || decode_common(L, n, g, 1, ri)) return -1;
    const yt_node *url = yt_field(n, "url"), *file = yt_field(n, "url_file");
    if (url_field(L, url, &ri->url) || file_field(L, file, &ri->url_file) ||
        yt_uint(L, yt_field(n, "max_alerts"), &ri->max_alerts, "uint64") ||
        yt_duration(L, yt_field(n, "timeout"), &ri->timeout_ms))
        return -1;
    if (!ri->url && !ri->url_file) return yt_fail(L, n, "one of url or url_file must be configured");
    if (ri->url && ri->url_file) return yt_fail(L, file, "at most one of url & url_file must be configured");
    const char *srcs[TF_N] = {0}, *names[TF_N] = {0};
    const yt_node *nodes[TF_N] = {0};
    return parse_templates(L, NULL, ri, srcs, nodes, names);
}

/* slack_configs: SlackConfig's fields with DefaultSlackConfig's texts;
 * fields and actions (structured attachments parts) are refused. */
static int decode_slack(yt_loader *L, rt_defaults *d, const yt_node *n, const receiver_globals *g,
                        receiver_integration *ri) {
    static const char *const known[] = {
        "send_resolved", "http_config", "api_url", "api_url_file", "channel", "username", "color", "title",
        "title_link", "pretext", "text", "short_fields", "footer", "fallback", "callback_id", "icon_emoji",
        "icon_url", "image_url", "thumb_url", "link_names", "mrkdwn_in", NULL};
    static const char *const unsupported[] = {"fields", "actions", NULL};
    if (yt_check_fields(L, n, "config.plain", known, unsupported) || decode_common(L, n, g, 0, ri)) return -1;
    receiver_slack *s = &ri->slack;
    s->color = "{{ if eq .Status \"firing\" }}danger{{ else }}good{{ end }}";
    s->username = DEF("slack.default.username");
    s->title = DEF("slack.default.title");
    s->title_link = DEF("slack.default.titlelink");
    s->icon_emoji = DEF("slack.default.iconemoji");
    s->icon_url = DEF("slack.default.iconurl");
    s->pretext = DEF("slack.default.pretext");
    s->text = DEF("slack.default.text");
    s->fallback = DEF("slack.default.fallback");
    s->callback_id = DEF("slack.default.callbackid");
    s->footer = DEF("slack.default.footer");
    const yt_node *file = yt_field(n, "api_url_file");
    if (url_field(L, yt_field(n, "api_url"), &ri->url) || file_field(L, file, &ri->url_file) ||
        yt_bool(L, yt_field(n, "short_fields"), &s->short_fields) ||
        yt_bool(L, yt_field(n, "link_names"), &s->link_names) ||
        yt_string_list(L, yt_field(n, "mrkdwn_in"), "[]string", &s->mrkdwn_in, &s->nmrkdwn_in, NULL))
        return -1;
    const char *srcs[TF_N] = {0}, *names[TF_N] = {0};
    const yt_node *nodes[TF_N] = {0};
    if (tmpl_field(L, n, "channel", &s->channel, TF_S_CHANNEL, srcs, nodes, names) ||
        tmpl_field(L, n, "username", &s->username, TF_S_USERNAME, srcs, nodes, names) ||
        tmpl_field(L, n, "color", &s->color, TF_S_COLOR, srcs, nodes, names) ||
        tmpl_field(L, n, "title", &s->title, TF_TITLE, srcs, nodes, names) ||
        tmpl_field(L, n, "title_link", &s->title_link, TF_S_TITLE_LINK, srcs, nodes, names) ||
        tmpl_field(L, n, "pretext", &s->pretext, TF_S_PRETEXT, srcs, nodes, names) ||
        tmpl_field(L, n, "text", &s->text, TF_S_TEXT, srcs, nodes, names) ||
        tmpl_field(L, n, "fallback", &s->fallback, TF_S_FALLBACK, srcs, nodes, names) ||
        tmpl_field(L, n, "callback_id", &s->callback_id, TF_S_CALLBACK_ID, srcs, nodes, names) ||
        tmpl_field(L, n, "icon_emoji", &s->icon_emoji, TF_S_ICON_EMOJI, srcs, nodes, names) ||
        tmpl_field(L, n, "icon_url", &s->icon_url, TF_S_ICON_URL, srcs, nodes, names) ||
        tmpl_field(L, n, "image_url", &s->image_url, TF_S_IMAGE_URL, srcs, nodes, names) ||
        tmpl_field(L, n, "thumb_url", &s->thumb_url, TF_S_THUMB_URL, srcs, nodes, names) ||
        tmpl_field(L, n, "footer", &s->footer, TF_S_FOOTER, srcs, nodes, names))
        return -1;
    ri->title = s->title;
    if (ri->url && ri->url_file) return yt_fail(L, file, "at most one of api_url & api_url_file must be configured");
    return parse_templates(L, d, ri, srcs, nodes, names);
}

/* discord_configs: DiscordConfig's fields with its default texts. */
static int decode_discord(yt_loader *L, rt_defaults *d, const yt_node *n, const receiver_globals *g,
                          receiver_integration *ri) {
    static const char *const known[] = {"send_resolved", "http_config", "webhook_url", "webhook_url_file", "title",
                                        "message", "content", "username", "avatar_url", NULL};
    if (yt_check_fields(L, n, "config.plain", known, NULL) || decode_common(L, n, g, 1, ri)) return -1;
    ri->title = DEF("discord.default.title");
    ri->message = DEF("discord.default.message");
    const yt_node *file = yt_field(n, "webhook_url_file");
    if (url_field(L, yt_field(n, "webhook_url"), &ri->url) || file_field(L, file, &ri->url_file) ||
        yt_string(L, yt_field(n, "username"), &ri->username) ||
        yt_string(L, yt_field(n, "avatar_url"), &ri->avatar_url))
        return -1;
    const char *srcs[TF_N] = {0}, *names[TF_N] = {0};
    const yt_node *nodes[TF_N] = {0};
    if (tmpl_field(L, n, "title", &ri->title, TF_TITLE, srcs, nodes, names) ||
        tmpl_field(L, n, "message", &ri->message, TF_MESSAGE, srcs, nodes, names) ||
        tmpl_field(L, n, "content", &ri->content, TF_CONTENT, srcs, nodes, names))
        return -1;
    if (!ri->url && !ri->url_file) return yt_fail(L, n, "one of webhook_url or webhook_url_file must be configured");
    if (ri->url && ri->url_file)
        return yt_fail(L, file, "at most one of webhook_url & webhook_url_file must be configured");
    return parse_templates(L, d, ri, srcs, nodes, names);
}

/* telegram_configs: TelegramConfig's fields, default message and HTML
 * parse mode, and TelegramConfig.UnmarshalYAML's checks; api_url falls
 * back to global.telegram_api_url, then Telegram's own. */
static int decode_telegram(yt_loader *L, rt_defaults *d, const yt_node *n, const receiver_globals *g,
                           receiver_integration *ri) {
    static const char *const known[] = {"send_resolved", "http_config", "api_url", "bot_token", "bot_token_file",
                                        "chat_id", "message_thread_id", "message", "disable_notifications",
                                        "parse_mode", NULL};
    if (yt_check_fields(L, n, "config.plain", known, NULL) || decode_common(L, n, g, 1, ri)) return -1;
    receiver_telegram *t = &ri->telegram;
    ri->message = DEF("telegram.default.message");
    t->parse_mode = "HTML";
    const yt_node *token = yt_field(n, "bot_token"), *file = yt_field(n, "bot_token_file");
    const yt_node *pm = yt_field(n, "parse_mode");
    if (url_field(L, yt_field(n, "api_url"), &ri->url) || yt_string(L, token, &t->bot_token) ||
        file_field(L, file, &t->bot_token_file) || int64_field(L, yt_field(n, "chat_id"), &t->chat_id, "int64") ||
        int64_field(L, yt_field(n, "message_thread_id"), &t->message_thread_id, "int") ||
        yt_bool(L, yt_field(n, "disable_notifications"), &t->disable_notifications) ||
        text_field(L, n, "parse_mode", &t->parse_mode))
        return -1;
    const char *srcs[TF_N] = {0}, *names[TF_N] = {0};
    const yt_node *nodes[TF_N] = {0};
    if (tmpl_field(L, n, "message", &ri->message, TF_MESSAGE, srcs, nodes, names)) return -1;
    if (t->bot_token && !*t->bot_token) t->bot_token = NULL;
    /* TelegramConfig.UnmarshalYAML, in its order. */
    if (!t->bot_token && !t->bot_token_file) return yt_fail(L, n, "missing bot_token or bot_token_file on telegram_config");
    if (t->bot_token && t->bot_token_file)
        return yt_fail(L, file, "at most one of bot_token & bot_token_file must be configured");
    if (t->chat_id == 0) return yt_fail(L, yt_field(n, "chat_id") ? yt_field(n, "chat_id") : n, "missing chat_id on telegram_config");
    if (*t->parse_mode && strcmp(t->parse_mode, "Markdown") && strcmp(t->parse_mode, "MarkdownV2") &&
        strcmp(t->parse_mode, "HTML"))
        return yt_fail(L, pm, "unknown parse_mode on telegram_config, must be Markdown, MarkdownV2, HTML or empty string");
    if (!ri->url) ri->url = g->telegram_api_url ? g->telegram_api_url : DEFAULT_TELEGRAM_API_URL;
    return parse_templates(L, d, ri, srcs, nodes, names);
}

/* dingtalk_configs, wecom_configs, feishu_configs: a robot's webhook URL,
 * an optional signing secret (DingTalk, Feishu), title and message. */
static int decode_robot(yt_loader *L, rt_defaults *d, const yt_node *n, const receiver_globals *g,
                        receiver_integration *ri) {
    static const char *const known_signed[] = {"send_resolved", "http_config", "url", "secret", "title", "message",
                                               "max_alerts", NULL};
    static const char *const known_plain[] = {"send_resolved", "http_config", "url", "title", "message",
                                              "max_alerts", NULL};
    const char *type_name, *key;
    const char *const *known = known_signed;
    switch (ri->type) {
    case RECEIVER_DINGTALK: type_name = "config.DingTalkConfig", key = "dingtalk"; break;
    case RECEIVER_WECOM: type_name = "config.WeComConfig", key = "wecom", known = known_plain; break;
    default: type_name = "config.FeishuConfig", key = "feishu"; break;
    }
    if (yt_check_fields(L, n, type_name, known, NULL) || decode_common(L, n, g, 1, ri)) return -1;
    char title[64], message[64];
    snprintf(title, sizeof title, DEF("%s.default.title"), key);
    snprintf(message, sizeof message, DEF("%s.default.message"), key);
    ri->title = yt_strdup(L->arena, title);
    ri->message = yt_strdup(L->arena, message);
    if (url_field(L, yt_field(n, "url"), &ri->url) || yt_string(L, yt_field(n, "secret"), &ri->secret) ||
        yt_uint(L, yt_field(n, "max_alerts"), &ri->max_alerts, "uint64"))
        return -1;
    if (ri->secret && !*ri->secret) ri->secret = NULL;
    const char *srcs[TF_N] = {0}, *names[TF_N] = {0};
    const yt_node *nodes[TF_N] = {0};
    if (tmpl_field(L, n, "title", &ri->title, TF_TITLE, srcs, nodes, names) ||
        tmpl_field(L, n, "message", &ri->message, TF_MESSAGE, srcs, nodes, names))
        return -1;
    if (!ri->url) return yt_fail(L, n, "missing url on %s_config", key);
    return parse_templates(L, d, ri, srcs, nodes, names);
}

/* ------------------------------------------------------------ configuration: receivers */

/* The <type>_configs keys, in the order integrations are built. */
static const struct {
    const char *key, *list_type, *item_type;   /* item_type: what yaml.v2 names in type errors */
    receiver_type type;
} integration_keys[] = {
    {"webhook_configs", "[]*config.WebhookConfig", "config.plain", RECEIVER_WEBHOOK},
    {"slack_configs", "[]*config.SlackConfig", "config.plain", RECEIVER_SLACK},
    {"telegram_configs", "[]*config.TelegramConfig", "config.plain", RECEIVER_TELEGRAM},
    {"discord_configs", "[]*config.DiscordConfig", "config.plain", RECEIVER_DISCORD},
    {"dingtalk_configs", "[]*config.DingTalkConfig", "config.DingTalkConfig", RECEIVER_DINGTALK},
    {"wecom_configs", "[]*config.WeComConfig", "config.WeComConfig", RECEIVER_WECOM},
    {"feishu_configs", "[]*config.FeishuConfig", "config.FeishuConfig", RECEIVER_FEISHU},
};
#define NKEYS (sizeof integration_keys / sizeof integration_keys[0])

/* One receivers entry: its integrations in Alertmanager's building order,
 * then the name check Receiver.UnmarshalYAML makes after decoding.  The
 * default template definitions are parsed on first need. */
static int decode_receiver(yt_loader *L, rt_defaults **d, const yt_node *n, const receiver_globals *g, receiver *r) {
    static const char *const known[] = {"name", "webhook_configs", "slack_configs", "telegram_configs",
                                        "discord_configs", "dingtalk_configs", "wecom_configs", "feishu_configs",
                                        NULL};
    static const char *const unsupported[] = {
        "email_configs", "pagerduty_configs", "opsgenie_configs", "pushover_configs", "victorops_configs",
        "wechat_configs", "sns_configs", "webex_configs", "msteams_configs", "msteamsv2_configs", "jira_configs",
        "rocketchat_configs", "incidentio_configs", "mattermost_configs", NULL};
    if (n->kind == YT_NULL) return yt_fail(L, n, "missing name in receiver");
    if (yt_expect_mapping(L, n, "config.plain") || yt_check_fields(L, n, "config.plain", known, unsupported))
        return -1;
    r->line = n->line;
    r->name = "";
    if (yt_string(L, yt_field(n, "name"), &r->name)) return -1;
    size_t total = 0;
    for (size_t k = 0; k < NKEYS; k++) {
        const yt_node *list = yt_field(n, integration_keys[k].key);
        if (!list || list->kind == YT_NULL) continue;
        if (list->kind != YT_SEQUENCE) return yt_type_error(L, list, integration_keys[k].list_type);
        total += list->n;
    }
    r->integrations = yt_alloc(L->arena, (total ? total : 1) * sizeof *r->integrations);
    for (size_t k = 0; k < NKEYS; k++) {
        const yt_node *list = yt_field(n, integration_keys[k].key);
        if (!list || list->kind != YT_SEQUENCE) continue;
        receiver_type t = integration_keys[k].type;
        if (t != RECEIVER_WEBHOOK && !*d && !(*d = hook_defaults(L))) return -1;
        for (size_t i = 0; i < list->n; i++) {
            const yt_node *e = list->items[i];
            receiver_integration *ri = &r->integrations[r->nintegrations];
            ri->type = t;
            ri->index = i;
            ri->receiver = r->name;
            /* A null entry is a nil pointer in Go, which Alertmanager's
             * later code would dereference: refuse it. */
            if (e->kind == YT_NULL) return yt_fail(L, e, "empty or null entry in %s", integration_keys[k].key);
            if (yt_expect_mapping(L, e, integration_keys[k].item_type)) return -1;
            int rc;
            switch (t) {
            case RECEIVER_WEBHOOK: rc = decode_webhook(L, e, g, ri); break;
            case RECEIVER_SLACK: rc = decode_slack(L, *d, e, g, ri); break;
            case RECEIVER_TELEGRAM: rc = decode_telegram(L, *d, e, g, ri); break;
            case RECEIVER_DISCORD: rc = decode_discord(L, *d, e, g, ri); break;
            default: rc = decode_robot(L, *d, e, g, ri); break;
            }
            if (rc) return -1;
            r->nintegrations++;
        }
    }
    if (!*r->name) return yt_fail(L, n, "missing name in receiver");
    return 0;
}

int receivers_decode(yt_loader *L, const yt_node *seq, const receiver_globals *g, receiver_set **out) {
    static const receiver_globals none;
    if (!g) g = &none;
    *out = NULL;
    receiver_set *s = yt_alloc(L->arena, sizeof *s);
    if (seq && seq->kind != YT_NULL) {
        if (seq->kind != YT_SEQUENCE) return yt_type_error(L, seq, "[]config.Receiver");
        s->receivers = yt_alloc(L->arena, (seq->n ? seq->n : 1) * sizeof *s->receivers);
        rt_defaults *d = NULL;
        for (size_t i = 0; i < seq->n; i++)
            if (decode_receiver(L, &d, seq->items[i], g, &s->receivers[i])) return -1;
        s->n = seq->n;
        /* Config.UnmarshalYAML's pass over the receivers. */
        char q[YT_QUOTE_MAX];
        for (size_t i = 0; i < s->n; i++) {
            receiver *r = &s->receivers[i];
            for (size_t j = 0; j < i; j++)
                if (!strcmp(s->receivers[j].name, r->name))
                    return yt_fail(L, yt_field(seq->items[i], "name"), "notification config name %s is not unique",
                                   yt_quote(q, sizeof q, r->name));
            for (size_t k = 0; k < r->nintegrations; k++) {
                receiver_integration *ri = &r->integrations[k];
                if (ri->type != RECEIVER_SLACK || ri->url || ri->url_file) continue;
                if (!g->slack_api_url && !g->slack_api_url_file) {
                    const yt_node *list = yt_field(seq->items[i], "slack_configs");
                    return yt_fail(L, list->items[ri->index], "no global Slack API URL set either inline or in a file");
                }
                ri->url = g->slack_api_url;
                ri->url_file = g->slack_api_url_file;
            }
        }
    }
    *out = s;
    return 0;
}

const receiver *receiver_set_find(const receiver_set *s, const char *name) {
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->receivers[i].name, name)) return &s->receivers[i];
    return NULL;
}

/* ------------------------------------------------------------ notification data */

/* One build's view of the group: the alerts to send (after the
 * send_resolved filter) and the template data derived from them. */
typedef struct group {
    const am_alert **alerts;
    size_t n;
    char *receiver_q;               /* QuoteMeta'd name */
    tdata d;
} group;

/* The labels (or annotations: which = 1) that every one of the n alerts
 * has with the same value, as template.Data computes commonLabels. */
static label *common_set(const am_alert *const *a, size_t n, int which, size_t *nout) {
    *nout = 0;
    if (!n) return NULL;
    const label *first = which ? a[0]->annotations : a[0]->labels;
    size_t nfirst = which ? a[0]->nannotations : a[0]->nlabels;
    label *out = xmalloc((nfirst ? nfirst : 1) * sizeof *out);
    for (size_t i = 0; i < nfirst; i++) {
        int same = 1;
        for (size_t j = 1; j < n && same; j++) {
            const label *v = which ? labels_get(a[j]->annotations, a[j]->nannotations, first[i].name, first[i].name_len)
                                   : labels_get(a[j]->labels, a[j]->nlabels, first[i].name, first[i].name_len);
            same = v && v->value_len == first[i].value_len && !memcmp(v->value, first[i].value, v->value_len);
        }
        if (same) out[(*nout)++] = first[i];
    }
    return out;
}

/* Fills g->d from the first n of g's alerts (the data Alertmanager's
 * template.Data builds from the alerts it is given). */
static void group_data(group *g, const am_message *m, size_t n) {
    int firing = 0;
    for (size_t i = 0; i < n; i++) firing |= !g->alerts[i]->resolved;
    g->d.receiver = g->receiver_q;
    g->d.status = firing ? "firing" : "resolved";
    g->d.alerts = g->alerts;
    g->d.nalerts = n;
    g->d.group_labels = m->group_labels;
    g->d.ngroup_labels = m->ngroup_labels;
    g->d.common_labels = common_set(g->alerts, n, 0, &g->d.ncommon_labels);
    g->d.common_annotations = common_set(g->alerts, n, 1, &g->d.ncommon_annotations);
    g->d.external_url = m->external_url ? m->external_url : "";
}

/* Selects the alerts to send (without the resolved ones when
 * send_resolved is off, as Alertmanager's retry stage filters them);
 * returns 1 when none is left. */
static int group_init(group *g, const receiver_integration *ri, const am_message *m) {
    memset(g, 0, sizeof *g);
    g->alerts = xmalloc((m->nalerts ? m->nalerts : 1) * sizeof *g->alerts);
    for (size_t i = 0; i < m->nalerts; i++)
        if (ri->send_resolved || !m->alerts[i].resolved) g->alerts[g->n++] = &m->alerts[i];
    g->receiver_q = quote_meta(m->receiver ? m->receiver : ri->receiver);
    return g->n == 0;
}

/* Releases what group_init and group_data allocated. */
static void group_free(group *g) {
    free(g->alerts);
    free(g->receiver_q);
    free(g->d.common_labels);
    free(g->d.common_annotations);
}

/* ------------------------------------------------------------ rendering */

/* How a platform measures a text. */
typedef enum { M_RUNES, M_BYTES, M_JSON_BYTES } measure;

/* The size of s[0..n) as the platform counts it. */
static size_t measure_text(const char *s, size_t n, measure how) {
    if (how == M_RUNES) return utf8_runes(s, n);
    if (how == M_BYTES) return n;
    buf b = {0};
    go_json_string(&b, s, n);
    size_t len = b.len - 2;
    buf_free(&b);
    return len;
}

/* Renders field f of ri over g's data into out ("" when the field has no
 * template). */
static int render(const receiver_integration *ri, int f, const group *g, int html, buf *out, errbuf *err) {
    const integ_priv *p = ri->priv;
    buf_reset(out);
    if (p && p->t[f] && hook_exec(p->t[f], &g->d, html, out, err)) return -1;
    return 0;
}

/* Appends the line that stands for alerts left out of a message. */
static void more_line(buf *b, size_t left) {
    if (left) buf_printf(b, "\n\n\xe2\x80\xa6 and %zu more alert%s", left, left == 1 ? "" : "s");
}

/* Renders field f over the first n of the group's alerts, with the line
 * for the rest, into out; sets *fits to whether it measures at most
 * limit. */
static int try_render(const receiver_integration *ri, int f, group *g, int html, size_t n, size_t limit, measure how,
                      buf *out, int *fits, errbuf *err) {
    g->d.nalerts = n;
    int rc = render(ri, f, g, html, out, err);
    g->d.nalerts = g->n;
    if (rc) return -1;
    more_line(out, g->n - n);
    *fits = measure_text((const char *)out->data, out->len, how) <= limit;
    return 0;
}

/* Renders field f so that it measures at most limit: with all alerts (at
 * most max_list of them when that is not 0) if that fits, else over the
 * largest number of leading alerts that fits, with a line "… and N more
 * alerts" after it (found by bisection: the text grows with the alerts),
 * else, when not even the line alone fits, the full text cut as
 * Alertmanager's Truncate cuts.  *shown is the number of alerts listed. */
static int render_fit(const receiver_integration *ri, int f, group *g, int html, size_t limit, measure how,
                      uint64_t max_list, buf *out, size_t *shown, errbuf *err) {
    size_t k = max_list && max_list < g->n ? (size_t)max_list : g->n;
    int fits = 0;
    if (try_render(ri, f, g, html, k, limit, how, out, &fits, err)) return -1;
    if (fits) {
        *shown = k;
        return 0;
    }
    size_t lo = 0, hi = k, best = (size_t)-1;  /* every n >= hi fails; lo..hi-1 untested */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (try_render(ri, f, g, html, mid, limit, how, out, &fits, err)) return -1;
        if (fits) best = mid, lo = mid + 1;
        else hi = mid;
    }
    if (best != (size_t)-1) {
        *shown = best;
        return try_render(ri, f, g, html, best, limit, how, out, &fits, err);
    }
    *shown = g->n;
    if (render(ri, f, g, html, out, err)) return -1;
    if (how != M_JSON_BYTES) {
        truncate_text(out, limit, how == M_BYTES);
        return 0;
    }
    /* Escaping makes the JSON form longer than the text: cut by bytes
     * until the escaped form fits. */
    size_t lim = limit;
    while (measure_text((const char *)out->data, out->len, how) > limit) {
        lim = lim > 64 ? lim - lim / 8 : 0;
        truncate_text(out, lim, 1);
        if (!lim) break;
    }
    return 0;
}

/* Renders a field that has a plain length limit (titles): Alertmanager's
 * Truncate at max units when max is not 0. */
static int render_cut(const receiver_integration *ri, int f, group *g, int html, size_t max, int by_bytes, buf *out,
                      errbuf *err) {
    if (render(ri, f, g, html, out, err)) return -1;
    if (max) truncate_text(out, max, by_bytes);
    return 0;
}

/* ------------------------------------------------------------ requests: helpers */

static void add_header(receiver_request *r, const char *name, const char *value) {
    r->headers = xrealloc(r->headers, (r->nheaders + 1) * sizeof *r->headers);
    r->headers[r->nheaders].name = xstrndup(name, strlen(name));
    r->headers[r->nheaders].value = xstrndup(value, strlen(value));
    r->nheaders++;
}

void receiver_request_free(receiver_request *r) {
    if (!r) return;
    free(r->url);
    for (size_t i = 0; i < r->nheaders; i++) {
        free(r->headers[i].name);
        free(r->headers[i].value);
    }
    free(r->headers);
    free(r->body);
    memset(r, 0, sizeof *r);
}

/* Reads a secret or URL file as Alertmanager and prometheus/common do:
 * the content with surrounding white space trimmed.  Returns a heap
 * string, or NULL with err set. */
static char *read_trimmed(const char *path, const char *what, errbuf *err) {
    size_t len = 0;
    char *s = read_small_file(path, SECRET_FILE_MAX, &len);
    if (!s) {
        errf(err, "could not read %s %s: %s", what, path, strerror(errno));
        return NULL;
    }
    size_t a = 0;
    while (a < len && isspace((unsigned char)s[a])) a++;
    while (len > a && isspace((unsigned char)s[len - 1])) len--;
    memmove(s, s + a, len - a);
    s[len - a] = 0;
    return s;
}

/* Standard base64 of n bytes, heap string. */
static char *base64(const unsigned char *p, size_t n) {
    char *out = xmalloc(4 * ((n + 2) / 3) + 1);
    EVP_EncodeBlock((unsigned char *)out, p, (int)n);
    return out;
}

/* base64(HMAC-SHA256(key, msg)), heap string. */
static char *hmac_sha256_b64(const char *key, size_t klen, const char *msg, size_t mlen) {
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg, mlen, mac, &maclen);
    return base64(mac, maclen);
}

/* Percent-encodes s as Java's URLEncoder (and Python's quote_plus) do,
 * which is what DingTalk's documentation signs with: letters, digits and
 * ".-*_" stay, space becomes "+", everything else %XX. */
static void url_encode(buf *b, const char *s) {
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (isalnum(*p) || *p == '.' || *p == '-' || *p == '*' || *p == '_') {
            buf_append(b, p, 1);
        } else if (*p == ' ') {
            buf_append(b, "+", 1);
        } else {
            char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            buf_append(b, e, 3);
        }
    }
}

/* The endpoint: ri->url, or url_file's content. */
static char *endpoint(const receiver_integration *ri, errbuf *err) {
    if (ri->url) return xstrndup(ri->url, strlen(ri->url));
    if (ri->url_file) return read_trimmed(ri->url_file, "url file", err);
    errf(err, "no URL configured");
    return NULL;
}

/* Content-Type and the Authorization header of http_config. */
static int add_auth_headers(receiver_request *r, const receiver_http *h, errbuf *err) {
    add_header(r, "Content-Type", "application/json");
    if (h->basic_auth) {
        const config_basic_auth *ba = h->basic_auth;
        char *pw = NULL;
        if (ba->password_file && !(pw = read_trimmed(ba->password_file, "basic_auth password_file", err)))
            return -1;
        buf up = {0};
        buf_printf(&up, "%s:%s", ba->username ? ba->username : "", pw ? pw : ba->password ? ba->password : "");
        char *b64 = base64(up.data, up.len);
        buf v = {0};
        buf_printf(&v, "Basic %s", b64);
        buf_append(&v, "", 1);
        add_header(r, "Authorization", (const char *)v.data);
        free(b64);
        buf_free(&v);
        buf_free(&up);
        free(pw);
    } else if (h->authorization) {
        const config_authorization *a = h->authorization;
        char *cred = NULL;
        if (a->credentials_file && !(cred = read_trimmed(a->credentials_file, "authorization credentials_file", err)))
            return -1;
        buf v = {0};
        buf_printf(&v, "%s %s", a->type, cred ? cred : a->credentials ? a->credentials : "");
        buf_append(&v, "", 1);
        add_header(r, "Authorization", (const char *)v.data);
        buf_free(&v);
        free(cred);
    }
    return 0;
}

/* Moves b into the request's body (NUL-terminated). */
static void take_body(receiver_request *r, buf *b) {
    r->body_len = b->len;
    buf_append(b, "", 1);
    r->body = (char *)b->data;
    memset(b, 0, sizeof *b);
}

/* ------------------------------------------------------------ requests: payloads */

/* Alertmanager's webhook.Message: template.Data's fields (receiver,
 * status, alerts, groupLabels, commonLabels, commonAnnotations,
 * externalURL), then version, groupKey and truncatedAlerts, as Go's
 * encoding/json orders an embedded struct's fields; json.Encoder's
 * trailing newline included. */
static void webhook_body(buf *b, const group *g, const am_message *m, uint64_t truncated) {
    jw w = {.b = b};
    const tdata *d = &g->d;
    char t[64];
    jw_begin(&w, '{');
    jw_kv(&w, "receiver", d->receiver, 0);
    jw_kv(&w, "status", d->status, 0);
    jw_key(&w, "alerts");
    jw_begin(&w, '[');
    for (size_t i = 0; i < d->nalerts; i++) {
        const am_alert *a = d->alerts[i];
        jw_begin(&w, '{');
        jw_kv(&w, "status", a->resolved ? "resolved" : "firing", 0);
        jw_key(&w, "labels");
        jw_labels(&w, a->labels, a->nlabels);
        jw_key(&w, "annotations");
        jw_labels(&w, a->annotations, a->nannotations);
        go_time_json(a->starts_at_ms, 0, t, sizeof t);
        jw_kv(&w, "startsAt", t, 0);
        go_time_json(a->ends_at_ms, a->ends_at_ms == 0, t, sizeof t);
        jw_kv(&w, "endsAt", t, 0);
        jw_kv(&w, "generatorURL", a->generator_url, 0);
        snprintf(t, sizeof t, "%016llx", (unsigned long long)am_fingerprint(a->labels, a->nlabels));
        jw_kv(&w, "fingerprint", t, 0);
        jw_end(&w, '}');
    }
    jw_end(&w, ']');
    jw_key(&w, "groupLabels");
    jw_labels(&w, d->group_labels, d->ngroup_labels);
    jw_key(&w, "commonLabels");
    jw_labels(&w, d->common_labels, d->ncommon_labels);
    jw_key(&w, "commonAnnotations");
    jw_labels(&w, d->common_annotations, d->ncommon_annotations);
    jw_kv(&w, "externalURL", d->external_url, 0);
    jw_kv(&w, "version", "4", 0);
    jw_kv(&w, "groupKey", m->group_key, 0);
    jw_key(&w, "truncatedAlerts");
    jw_int(&w, (long long)truncated);
    jw_end(&w, '}');
    buf_append(b, "\n", 1);
}

static int build_webhook(const receiver_integration *ri, const am_message *m, group *g, receiver_request *r,
                         errbuf *err) {
    uint64_t truncated = 0;
    size_t n = g->n;
    if (ri->max_alerts && n > ri->max_alerts) {
        truncated = n - ri->max_alerts;
        n = (size_t)ri->max_alerts;
    }
    group_data(g, m, n);
    buf b = {0};
    webhook_body(&b, g, m, truncated);
    take_body(r, &b);
    r->nalerts = n;
    r->ntruncated = (size_t)truncated;
    return add_auth_headers(r, ri->http, err);
}

/* Slack's limits (api.slack.com): attachment titles 1024 characters, as
 * Alertmanager cuts them; message text 40000 characters. */
#define SLACK_TITLE_MAX 1024
#define SLACK_TEXT_MAX 40000

/* Alertmanager's slack.request with one attachment. */
static int build_slack(const receiver_integration *ri, const am_message *m, group *g, receiver_request *r,
                       errbuf *err) {
    group_data(g, m, g->n);
    enum { CH, US, IE, IU, TI, TL, PT, TX, FB, CB, IM, TH, FT, CO, NF };
    static const int fields[NF] = {TF_S_CHANNEL, TF_S_USERNAME, TF_S_ICON_EMOJI, TF_S_ICON_URL, TF_TITLE,
                                   TF_S_TITLE_LINK, TF_S_PRETEXT, TF_S_TEXT, TF_S_FALLBACK, TF_S_CALLBACK_ID,
                                   TF_S_IMAGE_URL, TF_S_THUMB_URL, TF_S_FOOTER, TF_S_COLOR};
    buf v[NF];
    memset(v, 0, sizeof v);
    int rc = 0;
    size_t shown = g->n;
    for (int i = 0; i < NF && !rc; i++) {
        if (i == TI) rc = render_cut(ri, fields[i], g, 0, SLACK_TITLE_MAX, 0, &v[i], err);
        else if (i == TX) rc = render_fit(ri, fields[i], g, 0, SLACK_TEXT_MAX, M_RUNES, 0, &v[i], &shown, err);
        else rc = render(ri, fields[i], g, 0, &v[i], err);
    }
    if (!rc) {
        buf b = {0};
        jw w = {.b = &b};
#define S(i) (const char *)v[i].data, v[i].len
        jw_begin(&w, '{');
        jw_kvn(&w, "channel", S(CH), 1);
        jw_kvn(&w, "username", S(US), 1);
        jw_kvn(&w, "icon_emoji", S(IE), 1);
        jw_kvn(&w, "icon_url", S(IU), 1);
        if (ri->slack.link_names) {
            jw_key(&w, "link_names");
            jw_bool(&w, 1);
        }
        jw_key(&w, "attachments");
        jw_begin(&w, '[');
        jw_begin(&w, '{');
        jw_kvn(&w, "title", S(TI), 1);
        jw_kvn(&w, "title_link", S(TL), 1);
        jw_kvn(&w, "pretext", S(PT), 1);
        jw_kvn(&w, "text", S(TX), 0);
        jw_kvn(&w, "fallback", S(FB), 0);
        jw_kvn(&w, "callback_id", S(CB), 0);
        jw_kvn(&w, "image_url", S(IM), 1);
        jw_kvn(&w, "thumb_url", S(TH), 1);
        jw_kvn(&w, "footer", S(FT), 0);
        jw_kvn(&w, "color", S(CO), 1);
#undef S
        jw_key(&w, "mrkdwn_in");
        jw_begin(&w, '[');
        if (ri->slack.nmrkdwn_in) {
            for (size_t i = 0; i < ri->slack.nmrkdwn_in; i++) jw_str(&w, ri->slack.mrkdwn_in[i]);
        } else {
            jw_str(&w, "fallback");
            jw_str(&w, "pretext");
            jw_str(&w, "text");
        }
        jw_end(&w, ']');
        jw_end(&w, '}');
        jw_end(&w, ']');
        jw_end(&w, '}');
        buf_append(&b, "\n", 1);
        take_body(r, &b);
        r->nalerts = shown;
        r->ntruncated = g->n - shown;
        if (!(r->url = endpoint(ri, err))) rc = -1;
    }
    for (int i = 0; i < NF; i++) buf_free(&v[i]);
    return rc ? -1 : add_auth_headers(r, ri->http, err);
}

/* Discord's embed limits, as Alertmanager applies them. */
#define DISCORD_TITLE_MAX 256
#define DISCORD_DESCRIPTION_MAX 4096
#define DISCORD_CONTENT_MAX 2000

/* Alertmanager's discord webhook: content, one embed (title,
 * description, colour by status), username and avatar_url when set. */
static int build_discord(const receiver_integration *ri, const am_message *m, group *g, receiver_request *r,
                         errbuf *err) {
    group_data(g, m, g->n);
    buf title = {0}, desc = {0}, content = {0};
    size_t shown = g->n;
    int rc = render_cut(ri, TF_TITLE, g, 0, DISCORD_TITLE_MAX, 0, &title, err) ||
             render_fit(ri, TF_MESSAGE, g, 0, DISCORD_DESCRIPTION_MAX, M_RUNES, 0, &desc, &shown, err) ||
             render_cut(ri, TF_CONTENT, g, 0, DISCORD_CONTENT_MAX, 0, &content, err);
    if (!rc) {
        long color = !strcmp(g->d.status, "firing") ? 0x992D22 : !strcmp(g->d.status, "resolved") ? 0x2ECC71 : 0x95A5A6;
        buf b = {0};
        jw w = {.b = &b};
        jw_begin(&w, '{');
        jw_kvn(&w, "content", (const char *)content.data, content.len, 0);
        jw_key(&w, "embeds");
        jw_begin(&w, '[');
        jw_begin(&w, '{');
        jw_kvn(&w, "title", (const char *)title.data, title.len, 0);
        jw_kvn(&w, "description", (const char *)desc.data, desc.len, 0);
        jw_key(&w, "color");
        jw_int(&w, color);
        jw_end(&w, '}');
        jw_end(&w, ']');
        jw_kv(&w, "username", ri->username, 1);
        jw_kv(&w, "avatar_url", ri->avatar_url, 1);
        jw_end(&w, '}');
        buf_append(&b, "\n", 1);
        take_body(r, &b);
        r->nalerts = shown;
        r->ntruncated = g->n - shown;
        if (!(r->url = endpoint(ri, err))) rc = -1;
    }
    buf_free(&title);
    buf_free(&desc);
    buf_free(&content);
    return rc ? -1 : add_auth_headers(r, ri->http, err);
}

/* Telegram's sendMessage limit: 4096 characters. */
#define TELEGRAM_TEXT_MAX 4096

/* sendMessage as Alertmanager's client (telebot) sends it: POST
 * {api_url}/bot{token}/sendMessage with a JSON object of string values,
 * keys sorted (Go's encoding of a map[string]string). */
static int build_telegram(const receiver_integration *ri, const am_message *m, group *g, receiver_request *r,
                          errbuf *err) {
    const receiver_telegram *t = &ri->telegram;
    group_data(g, m, g->n);
    buf text = {0};
    size_t shown = g->n;
    int html = !strcmp(t->parse_mode, "HTML");
    if (render_fit(ri, TF_MESSAGE, g, html, TELEGRAM_TEXT_MAX, M_RUNES, 0, &text, &shown, err)) {
        buf_free(&text);
        return -1;
    }
    char *token = t->bot_token ? xstrndup(t->bot_token, strlen(t->bot_token))
                               : read_trimmed(t->bot_token_file, "bot_token_file", err);
    if (!token) {
        buf_free(&text);
        return -1;
    }
    buf u = {0};
    size_t ul = strlen(ri->url);
    while (ul && ri->url[ul - 1] == '/') ul--;
    buf_printf(&u, "%.*s/bot%s/sendMessage", (int)ul, ri->url, token);
    buf_append(&u, "", 1);
    r->url = (char *)u.data;
    free(token);

    char num[32];
    buf b = {0};
    jw w = {.b = &b};
    jw_begin(&w, '{');
    snprintf(num, sizeof num, "%lld", (long long)t->chat_id);
    jw_kv(&w, "chat_id", num, 0);
    if (t->disable_notifications) jw_kv(&w, "disable_notification", "true", 0);
    jw_kv(&w, "disable_web_page_preview", "true", 0);
    if (t->message_thread_id) {
        snprintf(num, sizeof num, "%lld", (long long)t->message_thread_id);
        jw_kv(&w, "message_thread_id", num, 0);
    }
    jw_kv(&w, "parse_mode", t->parse_mode, 1);
    jw_kvn(&w, "text", (const char *)text.data, text.len, 0);
    jw_end(&w, '}');
    buf_append(&b, "\n", 1);
    take_body(r, &b);
    r->nalerts = shown;
    r->ntruncated = g->n - shown;
    buf_free(&text);
    return add_auth_headers(r, ri->http, err);
}

/* DingTalk's markdown text limit (20000 bytes) and WeCom's markdown
 * content limit (4096 bytes); Feishu's custom bot request body limit. */
#define DINGTALK_TEXT_MAX 20000
#define WECOM_CONTENT_MAX 4096
#define FEISHU_BODY_MAX 20000

/* The heading line the robots' markdown starts with: "### TITLE\n", or
 * nothing when the title renders empty; at most max bytes. */
static void heading(buf *head, const buf *title, size_t max) {
    if (!title->len) return;
    buf_printf(head, "### ");
    buf_append(head, title->data, title->len);
    truncate_text(head, max - 1, 1);
    buf_append(head, "\n", 1);
}

/* The markdown text of a group robot (DingTalk, WeCom): the title, and a
 * heading line with the title followed by the message, all of it within
 * limit bytes (the message over as many alerts as fit).  *shown gets how
 * many alerts are listed. */
static int robot_markdown(const receiver_integration *ri, const am_message *m, group *g, size_t limit, buf *title,
                          buf *head, size_t *shown, errbuf *err) {
    group_data(g, m, g->n);
    buf text = {0};
    int rc = render(ri, TF_TITLE, g, 0, title, err);
    if (!rc) {
        heading(head, title, limit / 2);
        rc = render_fit(ri, TF_MESSAGE, g, 0, limit - head->len, M_BYTES, ri->max_alerts, &text, shown, err);
    }
    if (!rc) buf_append(head, text.data, text.len);
    buf_free(&text);
    return rc;
}

/* The body of a robot's markdown message:
 * {"msgtype":"markdown","markdown":{TITLE_KEY:title,TEXT_KEY:text}}
 * (no title when title_key is NULL), and how many alerts it lists. */
static void markdown_body(receiver_request *r, const char *title_key, const buf *title, const char *text_key,
                          const buf *text, size_t shown, size_t total) {
    buf b = {0};
    jw w = {.b = &b};
    jw_begin(&w, '{');
    jw_kv(&w, "msgtype", "markdown", 0);
    jw_key(&w, "markdown");
    jw_begin(&w, '{');
    if (title_key) jw_kvn(&w, title_key, (const char *)title->data, title->len, 0);
    jw_kvn(&w, text_key, (const char *)text->data, text->len, 0);
    jw_end(&w, '}');
    jw_end(&w, '}');
    take_body(r, &b);
    r->nalerts = shown;
    r->ntruncated = total - shown;
}

/* A DingTalk custom robot markdown message: markdown.title is the title
 * (what the chat list shows), markdown.text the title as a heading line
 * and then the message.  With a secret, DingTalk's signature goes in the
 * query: timestamp (ms) and
 * urlencode(base64(HMAC-SHA256(secret, timestamp "\n" secret))). */
static int build_dingtalk(const receiver_integration *ri, const am_message *m, group *g, receiver_request *r,
                          errbuf *err) {
    buf title = {0}, head = {0};
    size_t shown = g->n;
    int rc = robot_markdown(ri, m, g, DINGTALK_TEXT_MAX, &title, &head, &shown, err);
    if (!rc) {
        markdown_body(r, "title", &title, "text", &head, shown, g->n);
        buf u = {0};
        buf_printf(&u, "%s", ri->url);
        if (ri->secret) {
            char ts[32];
            snprintf(ts, sizeof ts, "%lld", (long long)m->now_ms);
            buf msg = {0};
            buf_printf(&msg, "%s\n%s", ts, ri->secret);
            char *sig = hmac_sha256_b64(ri->secret, strlen(ri->secret), (const char *)msg.data, msg.len);
            buf_printf(&u, "%stimestamp=%s&sign=", strchr(ri->url, '?') ? "&" : "?", ts);
            url_encode(&u, sig);
            free(sig);
            buf_free(&msg);
        }
        buf_append(&u, "", 1);
        r->url = (char *)u.data;
    }
    buf_free(&title);
    buf_free(&head);
    return rc ? -1 : add_auth_headers(r, ri->http, err);
}

/* A WeCom group robot markdown message (WeCom has no title field): the
 * title as a heading line, then the message. */
static int build_wecom(const receiver_integration *ri, const am_message *m, group *g, receiver_request *r,
                       errbuf *err) {
    buf title = {0}, head = {0};
    size_t shown = g->n;
    int rc = robot_markdown(ri, m, g, WECOM_CONTENT_MAX, &title, &head, &shown, err);
    if (!rc) {
        markdown_body(r, NULL, NULL, "content", &head, shown, g->n);
        r->url = xstrndup(ri->url, strlen(ri->url));
    }
    buf_free(&title);
    buf_free(&head);
    return rc ? -1 : add_auth_headers(r, ri->http, err);
}

/* The Feishu body with a given markdown content. */
static void feishu_body(buf *b, const receiver_integration *ri, const am_message *m, const group *g,
                        const buf *title, const char *content, size_t clen) {
    jw w = {.b = b};
    jw_begin(&w, '{');
    if (ri->secret) {
        char ts[32];
        int64_t secs = m->now_ms >= 0 ? m->now_ms / 1000 : -((-m->now_ms + 999) / 1000);
        snprintf(ts, sizeof ts, "%lld", (long long)secs);
        buf key = {0};
        buf_printf(&key, "%s\n%s", ts, ri->secret);
        char *sig = hmac_sha256_b64((const char *)key.data, key.len, "", 0);
        jw_kv(&w, "timestamp", ts, 0);
        jw_kv(&w, "sign", sig, 0);
        free(sig);
        buf_free(&key);
    }
    jw_kv(&w, "msg_type", "interactive", 0);
    jw_key(&w, "card");
    jw_begin(&w, '{');
    jw_key(&w, "config");
    jw_begin(&w, '{');
    jw_key(&w, "wide_screen_mode");
    jw_bool(&w, 1);
    jw_end(&w, '}');
    jw_key(&w, "header");
    jw_begin(&w, '{');
    jw_key(&w, "title");
    jw_begin(&w, '{');
    jw_kv(&w, "tag", "plain_text", 0);
    jw_kvn(&w, "content", (const char *)title->data, title->len, 0);
    jw_end(&w, '}');
    jw_kv(&w, "template", !strcmp(g->d.status, "firing") ? "red" : "green", 0);
    jw_end(&w, '}');
    jw_key(&w, "elements");
    jw_begin(&w, '[');
    jw_begin(&w, '{');
    jw_kv(&w, "tag", "markdown", 0);
    jw_kvn(&w, "content", content, clen, 0);
    jw_end(&w, '}');
    jw_end(&w, ']');
    jw_end(&w, '}');
    jw_end(&w, '}');
}

/* A Feishu custom bot interactive card: header with the title (red while
 * firing, green when resolved) and one markdown element.  With a secret
 * the body carries timestamp (seconds) and
 * base64(HMAC-SHA256(timestamp "\n" secret, "")), as Feishu documents. */
static int build_feishu(const receiver_integration *ri, const am_message *m, group *g, receiver_request *r,
                        errbuf *err) {
    group_data(g, m, g->n);
    buf title = {0}, text = {0};
    size_t shown = g->n;
    int rc = render_cut(ri, TF_TITLE, g, 0, FEISHU_BODY_MAX / 4, 1, &title, err);
    if (!rc) {
        buf empty = {0};
        feishu_body(&empty, ri, m, g, &title, "", 0);
        size_t budget = FEISHU_BODY_MAX - empty.len;
        buf_free(&empty);
        rc = render_fit(ri, TF_MESSAGE, g, 0, budget, M_JSON_BYTES, ri->max_alerts, &text, &shown, err);
    }
    if (!rc) {
        buf b = {0};
        feishu_body(&b, ri, m, g, &title, (const char *)text.data, text.len);
        take_body(r, &b);
        r->nalerts = shown;
        r->ntruncated = g->n - shown;
        r->url = xstrndup(ri->url, strlen(ri->url));
    }
    buf_free(&title);
    buf_free(&text);
    return rc ? -1 : add_auth_headers(r, ri->http, err);
}

int receiver_build(const receiver_integration *ri, const am_message *m, receiver_request *out, errbuf *err) {
    memset(out, 0, sizeof *out);
    group g;
    if (group_init(&g, ri, m)) {
        group_free(&g);
        return 1;
    }
    out->method = "POST";
    out->http = ri->http;
    int rc;
    switch (ri->type) {
    case RECEIVER_WEBHOOK:
        rc = build_webhook(ri, m, &g, out, err);
        if (!rc && !(out->url = endpoint(ri, err))) rc = -1;
        break;
    case RECEIVER_SLACK: rc = build_slack(ri, m, &g, out, err); break;
    case RECEIVER_DISCORD: rc = build_discord(ri, m, &g, out, err); break;
    case RECEIVER_TELEGRAM: rc = build_telegram(ri, m, &g, out, err); break;
    case RECEIVER_DINGTALK: rc = build_dingtalk(ri, m, &g, out, err); break;
    case RECEIVER_WECOM: rc = build_wecom(ri, m, &g, out, err); break;
    case RECEIVER_FEISHU: rc = build_feishu(ri, m, &g, out, err); break;
    default: rc = errf(err, "unknown integration type");
    }
    group_free(&g);
    if (rc) {
        /* Say which integration failed, keeping the callee's reason. */
        char why[sizeof err->msg];
        snprintf(why, sizeof why, "%s", err ? err->msg : "");
        errf(err, "receiver \"%s\" %s[%zu]: %s", ri->receiver, receiver_type_name(ri->type), ri->index, why);
        receiver_request_free(out);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------ answers */

/* Appends up to 256 bytes of a response body for a message: white space
 * folded, control bytes dropped, cut at a character boundary. */
static void body_excerpt(char *out, size_t cap, const char *body, size_t len) {
    size_t o = 0;
    size_t n = utf8_prefix(body ? body : "", body ? len : 0, 256, 1);
    for (size_t i = 0; i < n && o + 4 < cap; i++) {
        unsigned char c = (unsigned char)body[i];
        if (c == '\n' || c == '\r' || c == '\t') c = ' ';
        if (c < 0x20 || c == 0x7f) continue;
        if (c == ' ' && o && out[o - 1] == ' ') continue;
        out[o++] = (char)c;
    }
    while (o && out[o - 1] == ' ') o--;
    if (n < len && o + 4 < cap) o += (size_t)snprintf(out + o, cap - o, "\xe2\x80\xa6");
    out[o] = 0;
}

/* Retry-After: delta-seconds or an HTTP-date (RFC 9110), in ms from now;
 * -1 when absent or unreadable. */
static int64_t parse_retry_after(const char *v, int64_t now_ms) {
    if (!v) return -1;
    while (*v == ' ' || *v == '\t') v++;
    if (isdigit((unsigned char)*v)) {
        char *end;
        long long s = strtoll(v, &end, 10);
        while (*end == ' ' || *end == '\t') end++;
        return *end || s < 0 ? -1 : (int64_t)s * 1000;
    }
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *end = strptime(v, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    if (!end) return -1;
    int64_t at = (int64_t)timegm(&tm) * 1000;
    return at > now_ms ? at - now_ms : 0;
}

/* A number member of a JSON object, with *has set when present. */
static long long json_int_member(json_t *o, const char *key, int *has) {
    json_t *v = json_object_get(o, key);
    *has = json_is_number(v);
    return json_is_integer(v) ? (long long)json_integer_value(v) : json_is_real(v) ? (long long)json_real_value(v) : 0;
}

static const char *json_str_member(json_t *o, const char *key) {
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* Whether a robot's answer carries its rate-limit code: -1 ("system
 * busy") and 130101 ("send too fast") for DingTalk, -1 and 45009 ("api
 * freq out of limit") for WeCom, 9499 and 11232 for Feishu. */
static int platform_rate_limited(const receiver_integration *ri, json_t *j) {
    int has;
    long long code;
    switch (ri->type) {
    case RECEIVER_DINGTALK:
        code = json_int_member(j, "errcode", &has);
        return has && (code == -1 || code == 130101);
    case RECEIVER_WECOM:
        code = json_int_member(j, "errcode", &has);
        return has && (code == -1 || code == 45009);
    case RECEIVER_FEISHU:
        code = json_int_member(j, "code", &has);
        return has && (code == 9499 || code == 11232);
    default:
        return 0;
    }
}

/* Sets "WHO: reason" (printf-style reason) as the outcome's message. */
static void set_msg(receiver_outcome *o, const char *who, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_msg(receiver_outcome *o, const char *who, const char *fmt, ...) {
    char why[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    snprintf(o->msg, sizeof o->msg, "%.200s: %.300s", who, why);
}

int receiver_classify(const receiver_integration *ri, const receiver_response *resp, receiver_outcome *out) {
    memset(out, 0, sizeof *out);
    out->retry_after_ms = parse_retry_after(resp->retry_after, resp->now_ms);
    char who[200];
    snprintf(who, sizeof who, "receiver \"%s\" %s[%zu]", ri->receiver, receiver_type_name(ri->type), ri->index);
    char excerpt[300];
    body_excerpt(excerpt, sizeof excerpt, resp->body, resp->body_len);
    json_t *j = resp->body && resp->body_len ? json_loadb(resp->body, resp->body_len, JSON_DECODE_ANY, NULL) : NULL;
    if (j && !json_is_object(j)) {
        json_decref(j);
        j = NULL;
    }
    int has;
    if (resp->status / 100 != 2) {
        out->retry = resp->status == 429 || resp->status / 100 == 5 || (j && platform_rate_limited(ri, j));
        /* The platform's own words when the body has them. */
        const char *why = NULL;
        if (j) {
            why = json_str_member(j, "description");                 /* Telegram */
            if (!why) why = json_str_member(j, "errmsg");            /* DingTalk, WeCom */
            if (!why) why = json_str_member(j, "msg");               /* Feishu */
            if (!why) why = json_str_member(j, "message");           /* Discord */
            if (!why) why = json_str_member(j, "error");             /* Slack */
            json_t *params = json_object_get(j, "parameters");       /* Telegram's flood control */
            long long ra = params ? json_int_member(params, "retry_after", &has) : 0;
            if (params && has && ra >= 0) out->retry_after_ms = ra * 1000;
            json_t *dra = json_object_get(j, "retry_after");         /* Discord: seconds, maybe fractional */
            if (json_is_number(dra) && out->retry_after_ms < 0)
                out->retry_after_ms = (int64_t)(json_number_value(dra) * 1000.0 + 0.5);
        }
        if (why) set_msg(out, who, "unexpected status code %ld: %s", resp->status, why);
        else if (*excerpt) set_msg(out, who, "unexpected status code %ld: %s", resp->status, excerpt);
        else set_msg(out, who, "unexpected status code %ld", resp->status);
        json_decref(j);
        return -1;
    }
    int rc = 0;
    switch (ri->type) {
    case RECEIVER_WEBHOOK:
    case RECEIVER_DISCORD:
        break;
    case RECEIVER_SLACK:
        /* Slack's incoming webhooks answer "ok"; its Web API (and
         * Rocket.Chat) answer JSON. */
        if (resp->content_type && !strncasecmp(resp->content_type, "application/json", 16)) {
            if (!j) {
                set_msg(out, who, "could not unmarshal JSON response \"%s\"", excerpt);
                out->retry = 1;
                rc = -1;
            } else if (!json_is_true(json_object_get(j, "ok")) && !json_is_true(json_object_get(j, "success"))) {
                const char *e = json_str_member(j, "error");
                set_msg(out, who, "error response from Slack: %s", e ? e : excerpt);
                rc = -1;
            }
        } else if (resp->body_len != 2 || memcmp(resp->body, "ok", 2)) {
            set_msg(out, who, "received an error response from Slack: %s", excerpt);
            rc = -1;
        }
        break;
    case RECEIVER_TELEGRAM:
        if (!j) {
            set_msg(out, who, "unexpected response from Telegram: %s", excerpt);
            rc = -1;
        } else if (!json_is_true(json_object_get(j, "ok"))) {
            long long code = json_int_member(j, "error_code", &has);
            const char *d = json_str_member(j, "description");
            set_msg(out, who, "telegram error %lld: %s", code, d ? d : excerpt);
            out->retry = code == 429 || code / 100 == 5;
            json_t *params = json_object_get(j, "parameters");
            long long ra = params ? json_int_member(params, "retry_after", &has) : 0;
            if (params && has && ra >= 0) out->retry_after_ms = ra * 1000;
            rc = -1;
        }
        break;
    case RECEIVER_DINGTALK:
    case RECEIVER_WECOM: {
        long long code = j ? json_int_member(j, "errcode", &has) : 0;
        if (!j || !has) {
            set_msg(out, who, "unexpected response: %s", excerpt);
            rc = -1;
        } else if (code != 0) {
            const char *e = json_str_member(j, "errmsg");
            set_msg(out, who, "errcode %lld: %s", code, e ? e : "");
            out->retry = platform_rate_limited(ri, j);
            rc = -1;
        }
        break;
    }
    case RECEIVER_FEISHU: {
        long long code = 0;
        int has_code = 0;
        if (j) {
            code = json_int_member(j, "code", &has_code);
            if (!has_code) code = json_int_member(j, "StatusCode", &has_code);
        }
        if (!has_code) {
            set_msg(out, who, "unexpected response: %s", excerpt);
            rc = -1;
        } else if (code != 0) {
            const char *e = json_str_member(j, "msg");
            if (!e) e = json_str_member(j, "StatusMessage");
            set_msg(out, who, "code %lld: %s", code, e ? e : "");
            out->retry = platform_rate_limited(ri, j);
            rc = -1;
        }
        break;
    }
    }
    json_decref(j);
    out->ok = rc == 0;
    if (out->ok) out->retry_after_ms = -1;
    return rc;
}

/* ------------------------------------------------------------ template hook */

/* The named templates every integration's texts may call: those of
 * Alertmanager's default.tmpl that its Slack, Telegram and Discord
 * defaults use (verbatim, as in Alertmanager 0.27), then promlite's for
 * the DingTalk, WeCom and Feishu robots, in markdown the three render
 * alike: a bold heading per state with the count listed, then per alert
 * its name and time, its labels and annotations as list items and a link
 * to its source. */
static const char default_templates[] =
    "{{ define \"__alertmanager\" }}Alertmanager{{ end }}\n"
    "{{ define \"__alertmanagerURL\" }}{{ .ExternalURL }}/#/alerts?receiver={{ .Receiver | urlquery }}{{ end }}\n"
    "\n"
    "{{ define \"__subject\" }}[{{ .Status | toUpper }}{{ if eq .Status \"firing\" }}:{{ .Alerts.Firing | len }}{{ end }}]"
    " {{ .GroupLabels.SortedPairs.Values | join \" \" }} {{ if gt (len .CommonLabels) (len .GroupLabels) }}"
    "({{ with .CommonLabels.Remove .GroupLabels.Names }}{{ .Values | join \" \" }}{{ end }}){{ end }}{{ end }}\n"
    "{{ define \"__description\" }}{{ end }}\n"
    "\n"
    "{{ define \"__text_alert_list\" }}{{ range . }}Labels:\n"
    "{{ range .Labels.SortedPairs }} - {{ .Name }} = {{ .Value }}\n"
    "{{ end }}Annotations:\n"
    "{{ range .Annotations.SortedPairs }} - {{ .Name }} = {{ .Value }}\n"
    "{{ end }}Source: {{ .GeneratorURL }}\n"
    "{{ end }}{{ end }}\n"
    "\n"
    "{{ define \"__text_alert_list_markdown\" }}{{ range . }}\n"
    "Labels:\n"
    "{{ range .Labels.SortedPairs }}  - {{ .Name }} = {{ .Value }}\n"
    "{{ end }}\n"
    "Annotations:\n"
    "{{ range .Annotations.SortedPairs }}  - {{ .Name }} = {{ .Value }}\n"
    "{{ end }}\n"
    "Source: {{ .GeneratorURL }}\n"
    "{{ end }}\n"
    "{{ end }}\n"
    "\n"
    "{{ define \"slack.default.title\" }}{{ template \"__subject\" . }}{{ end }}\n"
    "{{ define \"slack.default.username\" }}{{ template \"__alertmanager\" . }}{{ end }}\n"
    "{{ define \"slack.default.fallback\" }}{{ template \"slack.default.title\" . }} | "
    "{{ template \"slack.default.titlelink\" . }}{{ end }}\n"
    "{{ define \"slack.default.callbackid\" }}{{ end }}\n"
    "{{ define \"slack.default.pretext\" }}{{ end }}\n"
    "{{ define \"slack.default.titlelink\" }}{{ template \"__alertmanagerURL\" . }}{{ end }}\n"
    "{{ define \"slack.default.iconemoji\" }}{{ end }}\n"
    "{{ define \"slack.default.iconurl\" }}{{ end }}\n"
    "{{ define \"slack.default.text\" }}{{ end }}\n"
    "{{ define \"slack.default.footer\" }}{{ end }}\n"
    "\n"
    "{{ define \"telegram.default.message\" }}\n"
    "{{ if gt (len .Alerts.Firing) 0 }}\n"
    "Alerts Firing:\n"
    "{{ template \"__text_alert_list\" .Alerts.Firing }}\n"
    "{{ end }}\n"
    "{{ if gt (len .Alerts.Resolved) 0 }}\n"
    "Alerts Resolved:\n"
    "{{ template \"__text_alert_list\" .Alerts.Resolved }}\n"
    "{{ end }}\n"
    "{{ end }}\n"
    "\n"
    "{{ define \"discord.default.content\" }}{{ end }}\n"
    "{{ define \"discord.default.title\" }}{{ template \"__subject\" . }}{{ end }}\n"
    "{{ define \"discord.default.message\" }}\n"
    "{{ if gt (len .Alerts.Firing) 0 }}\n"
    "Alerts Firing:\n"
    "{{ template \"__text_alert_list\" .Alerts.Firing }}\n"
    "{{ end }}\n"
    "{{ if gt (len .Alerts.Resolved) 0 }}\n"
    "Alerts Resolved:\n"
    "{{ template \"__text_alert_list\" .Alerts.Resolved }}\n"
    "{{ end }}\n"
    "{{ end }}\n"
    "\n"
    "{{ define \"__promlite_markdown_alerts\" }}{{ range . }}\n"
    "**{{ .Labels.alertname }}** {{ if eq .Status \"firing\" }}firing since "
    "{{ .StartsAt.Format \"2006-01-02 15:04:05 MST\" }}{{ else }}resolved at "
    "{{ .EndsAt.Format \"2006-01-02 15:04:05 MST\" }}, started "
    "{{ .StartsAt.Format \"2006-01-02 15:04:05 MST\" }}{{ end }}\n"
    "{{ range .Labels.SortedPairs }}{{ if ne .Name \"alertname\" }}- {{ .Name }}: {{ .Value }}\n"
    "{{ end }}{{ end }}{{ range .Annotations.SortedPairs }}- {{ .Name }}: {{ .Value }}\n"
    "{{ end }}{{ if .GeneratorURL }}- [Source]({{ .GeneratorURL }})\n"
    "{{ end }}{{ end }}{{ end }}\n"
    "{{ define \"__promlite_markdown_message\" }}{{ if gt (len .Alerts.Firing) 0 }}"
    "**Firing: {{ len .Alerts.Firing }}**\n"
    "{{ template \"__promlite_markdown_alerts\" .Alerts.Firing }}{{ end }}"
    "{{ if gt (len .Alerts.Resolved) 0 }}{{ if gt (len .Alerts.Firing) 0 }}\n{{ end }}"
    "**Resolved: {{ len .Alerts.Resolved }}**\n"
    "{{ template \"__promlite_markdown_alerts\" .Alerts.Resolved }}{{ end }}\n"
    "[{{ template \"__alertmanager\" . }}]({{ template \"__alertmanagerURL\" . }}){{ end }}\n"
    "\n"
    "{{ define \"dingtalk.default.title\" }}{{ template \"__subject\" . }}{{ end }}\n"
    "{{ define \"dingtalk.default.message\" }}{{ template \"__promlite_markdown_message\" . }}{{ end }}\n"
    "{{ define \"wecom.default.title\" }}{{ template \"__subject\" . }}{{ end }}\n"
    "{{ define \"wecom.default.message\" }}{{ template \"__promlite_markdown_message\" . }}{{ end }}\n"
    "{{ define \"feishu.default.title\" }}{{ template \"__subject\" . }}{{ end }}\n"
    "{{ define \"feishu.default.message\" }}{{ template \"__promlite_markdown_message\" . }}{{ end }}\n";

struct rt_defaults {
    tmpl *defs;
};

/* Arena cleanup for a parsed template a receiver_set keeps. */
static void free_template(void *t) { tmpl_free(t); }

/* Parses the default definitions once per decoded set.  The arena frees
 * deferred objects newest first, so the integrations' templates, parsed
 * later, go before the definitions they refer to. */
static rt_defaults *hook_defaults(yt_loader *L) {
    rt_defaults *d = yt_alloc(L->arena, sizeof *d);
    tmpl_options o = {.funcs = TMPL_FUNCS_ALERTMANAGER};
    errbuf e;
    if (tmpl_parse("default.tmpl", default_templates, sizeof default_templates - 1, &o, &d->defs, &e)) {
        yt_fail(L, NULL, "built-in templates: %s", e.msg);
        return NULL;
    }
    yt_arena_defer(L->arena, free_template, d->defs);
    return d;
}

static int hook_parse(yt_loader *L, rt_defaults *d, const yt_node *at, const char *field, const char *src,
                      const void **out) {
    *out = NULL;
    if (!*src) return 0;
    tmpl_options o = {.funcs = TMPL_FUNCS_ALERTMANAGER, .defs = d ? d->defs : NULL};
    tmpl *t = NULL;
    errbuf e;
    if (tmpl_parse(field, src, strlen(src), &o, &t, &e)) return yt_fail(L, at, "%s", e.msg);
    yt_arena_defer(L->arena, free_template, t);
    *out = t;
    return 0;
}

/* A string value; with html, escaped as html/template escapes text
 * (its htmlReplacementTable: & ' < > " + and NUL). */
static const tmpl_value *str_value(tmpl_data *td, const char *s, size_t n, int html) {
    if (!s) s = "", n = 0;
    int plain = 1;
    for (size_t i = 0; html && i < n && plain; i++) plain = s[i] && !strchr("&'<>\"+", s[i]);
    if (plain) return tmpl_string(td, s, n);
    buf b = {0};
    for (size_t i = 0; i < n; i++) {
        switch (s[i]) {
        case '&': buf_append(&b, "&amp;", 5); break;
        case '\'': buf_append(&b, "&#39;", 5); break;
        case '<': buf_append(&b, "&lt;", 4); break;
        case '>': buf_append(&b, "&gt;", 4); break;
        case '"': buf_append(&b, "&#34;", 5); break;
        case '+': buf_append(&b, "&#43;", 5); break;
        case 0: buf_append(&b, "\xef\xbf\xbd", 3); break;
        default: buf_append(&b, s + i, 1);
        }
    }
    const char *c = tmpl_data_strdup(td, b.data ? (const char *)b.data : "", b.len);
    size_t len = b.len;
    buf_free(&b);
    return tmpl_string(td, c, len);
}

/* A label set as Alertmanager's KV. */
static const tmpl_value *kv_value(tmpl_data *td, const label *l, size_t n, int html) {
    if (!html) return tmpl_labels(td, TMPL_MAP_KV, l, n);
    tmpl_value *m = tmpl_map(td, TMPL_MAP_KV, n);
    for (size_t i = 0; i < n; i++) tmpl_map_put(td, m, l[i].name, l[i].name_len, str_value(td, l[i].value, l[i].value_len, html));
    return m;
}

/* A time as Go's time.Time; unset is Go's zero time (year 1). */
static const tmpl_value *time_value(tmpl_data *td, int64_t ms, int unset) {
    if (unset) return tmpl_time(td, -62135596800LL, 0);
    int64_t sec = ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
    return tmpl_time(td, sec, (int32_t)((ms - sec * 1000) * 1000000));
}

/* Executes t over Alertmanager's template.Data built from d.  With html
 * (Telegram's HTML parse mode, where Alertmanager executes through
 * html/template) every string of the data is HTML-escaped, which for text
 * interpolated between tags gives html/template's output. */
static int hook_exec(const void *t, const tdata *d, int html, buf *out, errbuf *err) {
    tmpl_data *td = tmpl_data_new();
    tmpl_value *alerts = tmpl_list(td, TMPL_LIST_ALERTS, d->nalerts);
    for (size_t i = 0; i < d->nalerts; i++) {
        const am_alert *a = d->alerts[i];
        tmpl_value *v = tmpl_struct(td, "template.Alert", 7);
        const char *status = a->resolved ? "resolved" : "firing";
        char fp[17];
        snprintf(fp, sizeof fp, "%016llx", (unsigned long long)am_fingerprint(a->labels, a->nlabels));
        const char *gen = a->generator_url ? a->generator_url : "";
        tmpl_map_put(td, v, "Status", 6, tmpl_string(td, status, strlen(status)));
        tmpl_map_put(td, v, "Labels", 6, kv_value(td, a->labels, a->nlabels, html));
        tmpl_map_put(td, v, "Annotations", 11, kv_value(td, a->annotations, a->nannotations, html));
        tmpl_map_put(td, v, "StartsAt", 8, time_value(td, a->starts_at_ms, 0));
        tmpl_map_put(td, v, "EndsAt", 6, time_value(td, a->ends_at_ms, a->ends_at_ms == 0));
        tmpl_map_put(td, v, "GeneratorURL", 12, str_value(td, gen, strlen(gen), html));
        tmpl_map_put(td, v, "Fingerprint", 11, tmpl_string(td, tmpl_data_strdup(td, fp, 16), 16));
        tmpl_list_push(td, alerts, v);
    }
    tmpl_value *data = tmpl_struct(td, "*template.Data", 7);
    tmpl_map_put(td, data, "Receiver", 8, str_value(td, d->receiver, strlen(d->receiver), html));
    tmpl_map_put(td, data, "Status", 6, tmpl_string(td, d->status, strlen(d->status)));
    tmpl_map_put(td, data, "Alerts", 6, alerts);
    tmpl_map_put(td, data, "GroupLabels", 11, kv_value(td, d->group_labels, d->ngroup_labels, html));
    tmpl_map_put(td, data, "CommonLabels", 12, kv_value(td, d->common_labels, d->ncommon_labels, html));
    tmpl_map_put(td, data, "CommonAnnotations", 17, kv_value(td, d->common_annotations, d->ncommon_annotations, html));
    tmpl_map_put(td, data, "ExternalURL", 11, str_value(td, d->external_url, strlen(d->external_url), html));
    tmpl_exec_options o = {.missing_key = TMPL_MISSING_ZERO};
    int rc = tmpl_execute(t, data, &o, out, err);
    tmpl_data_free(td);
    return rc;
}
