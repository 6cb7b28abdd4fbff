/*
 * relabel.c - see relabel.h.  Prometheus 2.42's relabeling, rule by rule.
 *
 * Construction (relabel_rule_new) does all the work that does not depend on
 * the label set: the checks of Prometheus's config loader, in its order and
 * with its messages; compiling the regex anchored as ^(?:RE)$ (PCRE2, UTF,
 * JIT when available); and parsing the replacement and a templated
 * target_label into pieces (literal text, a group number, a group name)
 * following Go's Regexp.Expand, so applying a rule never re-parses text.
 *
 * Regex flags that make PCRE2 behave like Go's RE2 syntax where the two
 * differ by default: PCRE2_DOLLAR_ENDONLY ("$" is the end of the text, never
 * "before a final newline"), newline = LF only (Go's "." excludes just \n),
 * PCRE2_DUPNAMES (Go 1.19, which built Prometheus 2.42, accepts a repeated
 * group name) and PCRE2_MATCH_INVALID_UTF (a value with invalid UTF-8 is
 * matched, not an error).  Constructs RE2 rejects but PCRE2 knows
 * (backreferences, lookaround) are accepted here.
 *
 * Application (relabel_apply) runs on a working label set kept sorted by
 * name in the builder's scratch space.  Its strings point into the input (kept
 * alive by the caller for the duration of the call), into the rules, or into
 * an arena of blocks that never move, so a pointer taken early in a chain of
 * rules stays valid to its end.  Setting a label to the empty value deletes
 * it, as labels.Builder.Set does; labels with empty values in the input are
 * dropped first (labels.Builder.Reset).  At the end the result is copied into
 * the builder's own string buffer, sized first so that no pointer moves, and
 * the arena is recycled by the next apply.
 *
 * hashmod needs MD5: OpenSSL's libcrypto (libssl-dev) provides it; the
 * process already loads libcrypto through libcurl's OpenSSL flavour.  A rule
 * fetches the digest once and keeps its own digest context.  lowercase and
 * uppercase map each code point with the C library's Unicode tables of the
 * "C.UTF-8" locale (a locale_t owned by the rule, so no process-wide setlocale),
 * like Go's strings.ToLower/ToUpper; invalid UTF-8 becomes U+FFFD as in Go.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "common/utf8.h"
#include "ingest/relabel.h"

#include <locale.h>
#include <openssl/evp.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <wctype.h>

/* ------------------------------------------------------------ templates */

typedef enum { PIECE_LIT, PIECE_GROUP, PIECE_NAME } piece_kind;

/* One piece of a parsed replacement: literal bytes, a group by number, or a
 * group by name (groups holds every number carrying that name, ascending;
 * Go takes the first of them that took part in the match). */
typedef struct {
    piece_kind kind;
    const char *lit;
    size_t lit_len;
    uint32_t group;
    uint32_t *groups;
    size_t ngroups;
} piece;

typedef struct {
    char *text; /* owned copy of the template; literal pieces point into it */
    size_t len;
    piece *p;
    size_t n;
    int has_dollar;
} tmpl;

struct relabel_rule {
    relabel_action action;
    char **source;
    size_t *source_len;
    size_t nsource;
    char *sep;
    size_t sep_len;
    char *target;
    size_t target_len;
    uint64_t modulus;
    pcre2_code *re;
    pcre2_match_data *md;
    tmpl repl;      /* replace, labelmap */
    tmpl target_t;  /* replace with a templated target_label */
    EVP_MD *md5;    /* hashmod */
    EVP_MD_CTX *mdctx;
    locale_t loc;   /* lowercase, uppercase; 0 means ASCII only */
};

static const char *const action_names[] = {
    [RELABEL_REPLACE] = "replace",     [RELABEL_KEEP] = "keep",
    [RELABEL_DROP] = "drop",           [RELABEL_HASHMOD] = "hashmod",
    [RELABEL_LABELMAP] = "labelmap",   [RELABEL_LABELDROP] = "labeldrop",
    [RELABEL_LABELKEEP] = "labelkeep", [RELABEL_LOWERCASE] = "lowercase",
    [RELABEL_UPPERCASE] = "uppercase", [RELABEL_KEEPEQUAL] = "keepequal",
    [RELABEL_DROPEQUAL] = "dropequal",
};
#define NACTIONS (sizeof action_names / sizeof action_names[0])

/* Length of the run of "name" characters at s[0..n): Go's Expand takes the
 * longest run of Unicode letters, decimal digits and underscores.  ASCII is
 * decided here; any other code point is asked of PCRE2's Unicode tables
 * through *uni, a one-character class compiled on first need. */
static size_t name_run(const char *s, size_t n, pcre2_code **uni, pcre2_match_data **umd) {
    size_t i = 0;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x80) {
            if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_') {
                i++;
                continue;
            }
            break;
        }
        uint32_t cp;
        size_t k = utf8_decode((const unsigned char *)s + i, n - i, &cp);
        if (cp == 0xFFFD) break; /* invalid, or U+FFFD itself: neither is a letter */
        if (!*uni) {
            int code;
            PCRE2_SIZE off;
            *uni = pcre2_compile((PCRE2_SPTR) "^[\\p{L}\\p{Nd}]$", PCRE2_ZERO_TERMINATED, PCRE2_UTF, &code, &off, NULL);
            if (!*uni) break;
            *umd = pcre2_match_data_create_from_pattern(*uni, NULL);
        }
        if (pcre2_match(*uni, (PCRE2_SPTR)(s + i), k, 0, 0, *umd, NULL) < 0) break;
        i += k;
    }
    return i;
}

static void tmpl_push(tmpl *t, size_t *cap, piece p) {
    if (t->n == *cap) {
        *cap = *cap ? *cap * 2 : 4;
        t->p = xrealloc(t->p, *cap * sizeof *t->p);
    }
    t->p[t->n++] = p;
}

/* Parses a replacement template by Go's Regexp.Expand rules: "$$" is "$";
 * "$name" or "${name}" names a group, where name is the longest run of
 * letters, digits and "_" (so "$1x" is the group named "1x"); a name that is
 * all digits (without a leading zero, below 1e8) is a group number; a "$"
 * that starts no valid reference is literal.  Names are resolved against re
 * now: a name no group carries expands to nothing. */
static void tmpl_parse(tmpl *t, const char *s, const pcre2_code *re) {
    memset(t, 0, sizeof *t);
    t->len = strlen(s);
    t->text = xstrndup(s, t->len);
    t->has_dollar = memchr(s, '$', t->len) != NULL;
    const char *p = t->text, *end = t->text + t->len;
    size_t cap = 0;
    pcre2_code *uni = NULL;
    pcre2_match_data *umd = NULL;
    uint32_t namecount = 0, entsize = 0;
    PCRE2_SPTR table = NULL;
    pcre2_pattern_info(re, PCRE2_INFO_NAMECOUNT, &namecount);
    pcre2_pattern_info(re, PCRE2_INFO_NAMEENTRYSIZE, &entsize);
    pcre2_pattern_info(re, PCRE2_INFO_NAMETABLE, &table);
    while (p < end) {
        const char *d = memchr(p, '$', (size_t)(end - p));
        if (!d) {
            tmpl_push(t, &cap, (piece){.kind = PIECE_LIT, .lit = p, .lit_len = (size_t)(end - p)});
            break;
        }
        if (d > p) tmpl_push(t, &cap, (piece){.kind = PIECE_LIT, .lit = p, .lit_len = (size_t)(d - p)});
        const char *q = d + 1;
        if (q < end && *q == '$') { /* "$$" */
            tmpl_push(t, &cap, (piece){.kind = PIECE_LIT, .lit = q, .lit_len = 1});
            p = q + 1;
            continue;
        }
        int brace = q < end && *q == '{';
        const char *name = q + brace;
        size_t nlen = name_run(name, (size_t)(end - name), &uni, &umd);
        const char *after = name + nlen;
        int ok = nlen > 0;
        if (ok && brace) {
            if (after < end && *after == '}') after++;
            else ok = 0;
        }
        if (!ok) { /* malformed: the "$" is literal text */
            tmpl_push(t, &cap, (piece){.kind = PIECE_LIT, .lit = d, .lit_len = 1});
            p = q;
            continue;
        }
        long num = 0;
        for (size_t i = 0; i < nlen; i++) {
            if (name[i] < '0' || name[i] > '9' || num >= 100000000) { num = -1; break; }
            num = num * 10 + (name[i] - '0');
        }
        if (name[0] == '0' && nlen > 1) num = -1;
        if (num >= 0) {
            tmpl_push(t, &cap, (piece){.kind = PIECE_GROUP, .group = (uint32_t)num});
        } else {
            piece pc = {.kind = PIECE_NAME};
            for (uint32_t i = 0; i < namecount; i++) {
                PCRE2_SPTR e = table + (size_t)i * entsize;
                const char *en = (const char *)e + 2;
                if (strlen(en) == nlen && memcmp(en, name, nlen) == 0) {
                    pc.groups = xrealloc(pc.groups, (pc.ngroups + 1) * sizeof *pc.groups);
                    pc.groups[pc.ngroups++] = ((uint32_t)e[0] << 8) | e[1];
                }
            }
            /* Duplicate names sit in the table in no promised order. */
            for (size_t i = 1; i < pc.ngroups; i++)
                for (size_t j = i; j > 0 && pc.groups[j - 1] > pc.groups[j]; j--) {
                    uint32_t x = pc.groups[j];
                    pc.groups[j] = pc.groups[j - 1];
                    pc.groups[j - 1] = x;
                }
            tmpl_push(t, &cap, pc);
        }
        p = after;
    }
    if (umd) pcre2_match_data_free(umd);
    if (uni) pcre2_code_free(uni);
}

static void tmpl_free(tmpl *t) {
    for (size_t i = 0; i < t->n; i++) free(t->p[i].groups);
    free(t->p);
    free(t->text);
    memset(t, 0, sizeof *t);
}

/* Appends the expansion of t for the match of re against subj (rc as
 * pcre2_match returned it) to out.  A group that did not take part in the
 * match, or does not exist, expands to nothing. */
static void tmpl_expand(const tmpl *t, const char *subj, const pcre2_match_data *md, int rc, buf *out) {
    const PCRE2_SIZE *ov = pcre2_get_ovector_pointer((pcre2_match_data *)md);
    uint32_t novec = pcre2_get_ovector_count((pcre2_match_data *)md);
    for (size_t i = 0; i < t->n; i++) {
        const piece *pc = &t->p[i];
        if (pc->kind == PIECE_LIT) {
            buf_append(out, pc->lit, pc->lit_len);
            continue;
        }
        size_t ng = pc->kind == PIECE_GROUP ? 1 : pc->ngroups;
        for (size_t k = 0; k < ng; k++) {
            uint32_t g = pc->kind == PIECE_GROUP ? pc->group : pc->groups[k];
            if (g >= novec || (int)g >= rc || ov[2 * g] == PCRE2_UNSET) continue;
            buf_append(out, subj + ov[2 * g], ov[2 * g + 1] - ov[2 * g]);
            break;
        }
    }
}

/* ----------------------------------------------------------- validation */

/* Writes s quoted as Go's %q does (strconv.Quote) into out[0..cap), for
 * error messages that must read exactly like Prometheus's. */
static void go_quote(const char *s, char *out, size_t cap) {
    size_t o = 0, n = strlen(s);
    if (cap < 8) { if (cap) out[0] = 0; return; }
    out[o++] = '"';
    for (size_t i = 0; i < n && o + 8 < cap;) {
        unsigned char c = (unsigned char)s[i];
        uint32_t cp;
        size_t k = utf8_decode((const unsigned char *)s + i, n - i, &cp);
        if (c >= 0x80) {
            if (cp == 0xFFFD && k == 1) o += (size_t)snprintf(out + o, cap - o, "\\x%02x", c);
            else { memcpy(out + o, s + i, k); o += k; }
            i += k;
            continue;
        }
        const char *esc = NULL;
        switch (c) {
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\a': esc = "\\a"; break;
        case '\b': esc = "\\b"; break;
        case '\f': esc = "\\f"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        case '\v': esc = "\\v"; break;
        default: break;
        }
        if (esc) { memcpy(out + o, esc, 2); o += 2; }
        else if (c < 0x20 || c == 0x7f) o += (size_t)snprintf(out + o, cap - o, "\\x%02x", c);
        else out[o++] = (char)c;
        i++;
    }
    out[o++] = '"';
    out[o] = 0;
}

/* Prometheus's relabelTarget, ^(?:(?:[a-zA-Z_]|\$(?:\{\w+\}|\w+))+\w*)+$,
 * checked by hand: as a backtracking regex its nested repetitions are
 * exponential on long invalid input.  The language: a letter, "_" or a
 * reference ($word or ${word}) first, then any mix of word characters and
 * references. */
static int relabel_target_valid(const char *s) {
    size_t n = strlen(s), i = 0;
#define WORD(c) (((c) >= 'a' && (c) <= 'z') || ((c) >= 'A' && (c) <= 'Z') || ((c) >= '0' && (c) <= '9') || (c) == '_')
    if (n == 0 || (s[0] >= '0' && s[0] <= '9')) return 0;
    while (i < n) {
        if (s[i] == '$') {
            i++;
            int brace = i < n && s[i] == '{';
            i += (size_t)brace;
            size_t start = i;
            while (i < n && WORD(s[i])) i++;
            if (i == start) return 0;
            if (brace) {
                if (i >= n || s[i] != '}') return 0;
                i++;
            }
        } else if (WORD(s[i])) {
            i++;
        } else {
            return 0;
        }
    }
#undef WORD
    return 1;
}

static int name_valid(const char *s) { return label_name_valid(s, strlen(s)); }

/* Prometheus's Config.Validate, in its order, with the spec's NULLs read as
 * "not given".  regex_given matters only to keepequal/dropequal, which
 * Prometheus tells apart from the default by identity, so any regex given
 * (even "(.*)") is refused there. */
static int validate(relabel_action a, const relabel_spec *s, const char *target, const char *sep,
                    const char *repl, uint64_t modulus, errbuf *err) {
    const char *an = action_names[a];
    char q[300];
    int needs_target = a == RELABEL_REPLACE || a == RELABEL_HASHMOD || a == RELABEL_LOWERCASE ||
                       a == RELABEL_UPPERCASE || a == RELABEL_KEEPEQUAL || a == RELABEL_DROPEQUAL;
    int like_replace = a == RELABEL_REPLACE || a == RELABEL_LOWERCASE || a == RELABEL_UPPERCASE ||
                       a == RELABEL_KEEPEQUAL || a == RELABEL_DROPEQUAL;
    int case_or_equal = like_replace && a != RELABEL_REPLACE;
    if (a == RELABEL_HASHMOD && modulus == 0)
        return errf(err, "relabel configuration for hashmod requires non-zero modulus");
    if (needs_target && target[0] == 0)
        return errf(err, "relabel configuration for %s action requires 'target_label' value", an);
    if (like_replace && (strchr(target, '$') ? !relabel_target_valid(target) : !name_valid(target))) {
        go_quote(target, q, sizeof q);
        return errf(err, "%s is invalid 'target_label' for %s action", q, an);
    }
    if (case_or_equal && strcmp(repl, "$1") != 0)
        return errf(err, "'replacement' can not be set for %s action", an);
    if (a == RELABEL_LABELMAP && !relabel_target_valid(repl)) {
        go_quote(repl, q, sizeof q);
        return errf(err, "%s is invalid 'replacement' for %s action", q, an);
    }
    if (a == RELABEL_HASHMOD && !name_valid(target)) {
        go_quote(target, q, sizeof q);
        return errf(err, "%s is invalid 'target_label' for %s action", q, an);
    }
    if ((a == RELABEL_KEEPEQUAL || a == RELABEL_DROPEQUAL) &&
        (s->regex != NULL || modulus != 0 || strcmp(sep, ";") != 0 || strcmp(repl, "$1") != 0))
        return errf(err, "%s action requires only 'source_labels' and `target_label`, and no other fields", an);
    if ((a == RELABEL_LABELDROP || a == RELABEL_LABELKEEP) &&
        (s->source_labels != NULL || s->nsource > 0 || target[0] != 0 || modulus != 0 || strcmp(sep, ";") != 0 ||
         strcmp(repl, "$1") != 0))
        return errf(err, "%s action requires only 'regex', and no other fields", an);
    return 0;
}

/* ------------------------------------------------------------ the rule */

/* Compiles ^(?:re)$ with the flags that give Go's semantics (file comment). */
static pcre2_code *compile_anchored(const char *re, errbuf *err) {
    buf pat = {0};
    buf_append(&pat, "^(?:", 4);
    buf_append(&pat, re, strlen(re));
    buf_append(&pat, ")$", 2);
    pcre2_compile_context *cc = pcre2_compile_context_create(NULL);
    pcre2_set_newline(cc, PCRE2_NEWLINE_LF);
    int code;
    PCRE2_SIZE off;
    pcre2_code *c = pcre2_compile(pat.data, pat.len,
                                  PCRE2_UTF | PCRE2_DOLLAR_ENDONLY | PCRE2_DUPNAMES | PCRE2_MATCH_INVALID_UTF |
                                      PCRE2_NEVER_BACKSLASH_C,
                                  &code, &off, cc);
    pcre2_compile_context_free(cc);
    if (!c) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(code, msg, sizeof msg);
        errf(err, "error parsing regexp: %s: `%.*s`", (char *)msg, (int)pat.len, (char *)pat.data);
        buf_free(&pat);
        return NULL;
    }
    buf_free(&pat);
    pcre2_jit_compile(c, PCRE2_JIT_COMPLETE); /* the interpreter serves if JIT is unavailable */
    return c;
}

int relabel_rule_new(const relabel_spec *spec, relabel_rule **out, errbuf *err) {
    *out = NULL;
    /* Fields are checked in the order Prometheus's documentation lists
     * them (source_labels, regex, action), which is the order its YAML
     * decoder reports them in for a rule written that way; then Validate. */
    for (size_t i = 0; i < spec->nsource; i++) {
        if (!name_valid(spec->source_labels[i])) {
            char q[300];
            go_quote(spec->source_labels[i], q, sizeof q);
            return errf(err, "%s is not a valid label name", q);
        }
    }
    const char *re_s = spec->regex ? spec->regex : "(.*)";
    pcre2_code *re = compile_anchored(re_s, err);
    if (!re) return -1;
    relabel_action a = RELABEL_REPLACE;
    if (spec->action) {
        size_t n = strlen(spec->action);
        size_t k = 0;
        for (; k < NACTIONS; k++) {
            /* Prometheus lower-cases the action before comparing. */
            if (strlen(action_names[k]) == n && strncasecmp(action_names[k], spec->action, n) == 0) break;
        }
        if (k == NACTIONS) {
            char q[300];
            go_quote(spec->action, q, sizeof q);
            pcre2_code_free(re);
            return errf(err, "unknown relabel action %s", q);
        }
        a = (relabel_action)k;
    }
    const char *target = spec->target_label ? spec->target_label : "";
    const char *sep = spec->separator ? spec->separator : ";";
    const char *repl = spec->replacement ? spec->replacement : "$1";
    uint64_t modulus = spec->has_modulus ? spec->modulus : 0;
    if (validate(a, spec, target, sep, repl, modulus, err) < 0) {
        pcre2_code_free(re);
        return -1;
    }

    relabel_rule *r = xcalloc(1, sizeof *r);
    r->action = a;
    r->re = re;
    r->md = pcre2_match_data_create_from_pattern(re, NULL);
    r->nsource = spec->nsource;
    r->source = xcalloc(spec->nsource ? spec->nsource : 1, sizeof *r->source);
    r->source_len = xcalloc(spec->nsource ? spec->nsource : 1, sizeof *r->source_len);
    for (size_t i = 0; i < spec->nsource; i++) {
        r->source_len[i] = strlen(spec->source_labels[i]);
        r->source[i] = xstrndup(spec->source_labels[i], r->source_len[i]);
    }
    r->sep_len = strlen(sep);
    r->sep = xstrndup(sep, r->sep_len);
    r->target_len = strlen(target);
    r->target = xstrndup(target, r->target_len);
    r->modulus = modulus;
    tmpl_parse(&r->repl, repl, re);
    /* Only replace expands target_label; the other actions use it as is. */
    if (a == RELABEL_REPLACE) tmpl_parse(&r->target_t, target, re);
    if (a == RELABEL_HASHMOD) {
        r->md5 = EVP_MD_fetch(NULL, "MD5", NULL);
        r->mdctx = EVP_MD_CTX_new();
        if (!r->md5 || !r->mdctx) {
            relabel_rule_free(r);
            return errf(err, "relabel: MD5 is not available from OpenSSL");
        }
    }
    if (a == RELABEL_LOWERCASE || a == RELABEL_UPPERCASE) r->loc = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
    *out = r;
    return 0;
}

void relabel_rule_free(relabel_rule *r) {
    if (!r) return;
    for (size_t i = 0; i < r->nsource; i++) free(r->source[i]);
    free(r->source);
    free(r->source_len);
    free(r->sep);
    free(r->target);
    tmpl_free(&r->repl);
    tmpl_free(&r->target_t);
    if (r->md) pcre2_match_data_free(r->md);
    if (r->re) pcre2_code_free(r->re);
    if (r->mdctx) EVP_MD_CTX_free(r->mdctx);
    if (r->md5) EVP_MD_free(r->md5);
    if (r->loc) freelocale(r->loc);
    free(r);
}

relabel_action relabel_rule_action(const relabel_rule *r) { return r->action; }

/* Matches the whole of s[0..n) against the rule's anchored regex; returns
 * pcre2_match's count (> 0) on a match, <= 0 otherwise.  A JIT stack
 * overflow is retried in the interpreter rather than read as "no match". */
static int rule_match(relabel_rule *r, const char *s, size_t n) {
    PCRE2_SPTR subj = (PCRE2_SPTR)(s ? s : "");
    int rc = pcre2_match(r->re, subj, n, 0, 0, r->md, NULL);
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT) rc = pcre2_match(r->re, subj, n, 0, PCRE2_NO_JIT, r->md, NULL);
    return rc;
}

/* ------------------------------------------------------------- builder */

/* An arena block; blocks never move, so strings in them stay put. */
typedef struct block {
    struct block *next;
    size_t used, cap;
    char data[];
} block;

typedef struct {
    label *work; /* the current set, sorted by name, no empty values */
    size_t n, cap;
    label *snap; /* labelmap's copy of the set as the rule found it */
    size_t snap_cap;
    block *first, *cur;
    buf val, t1, t2;
    buf spare; /* the next result's strings; swapped with the builder's */
} scratch;

void relabel_builder_init(relabel_builder *b) {
    memset(b, 0, sizeof *b);
    b->scratch = xcalloc(1, sizeof(scratch));
}

void relabel_builder_free(relabel_builder *b) {
    scratch *sc = b->scratch;
    if (sc) {
        for (block *k = sc->first; k;) {
            block *next = k->next;
            free(k);
            k = next;
        }
        free(sc->work);
        free(sc->snap);
        buf_free(&sc->val);
        buf_free(&sc->t1);
        buf_free(&sc->t2);
        buf_free(&sc->spare);
        free(sc);
    }
    free(b->labels);
    buf_free(&b->strings);
    memset(b, 0, sizeof *b);
}

/* Copies s[0..n) into the arena: into the current block, else the next
 * recycled block that fits, else a new one linked after the current. */
static const char *arena_dup(scratch *sc, const void *s, size_t n) {
    while (sc->cur && sc->cur->cap - sc->cur->used < n) {
        if (!sc->cur->next) break;
        sc->cur = sc->cur->next;
    }
    if (!sc->cur || sc->cur->cap - sc->cur->used < n) {
        size_t cap = n > 4096 ? n : 4096;
        block *k = xmalloc(sizeof *k + cap);
        k->used = 0;
        k->cap = cap;
        if (sc->cur) {
            k->next = sc->cur->next;
            sc->cur->next = k;
        } else {
            k->next = NULL;
            sc->first = k;
        }
        sc->cur = k;
    }
    char *p = sc->cur->data + sc->cur->used;
    if (n) memcpy(p, s, n);
    sc->cur->used += n;
    return p;
}

static void arena_reset(scratch *sc) {
    for (block *k = sc->first; k; k = k->next) k->used = 0;
    sc->cur = sc->first;
}

static int name_cmp(const char *a, size_t an, const char *b, size_t bn) {
    int c = memcmp(a, b, an < bn ? an : bn);
    if (c) return c;
    return an < bn ? -1 : an > bn;
}

/* Binary search of the working set: returns the index of name, or, when it
 * is absent, -(insertion point) - 1. */
static long ws_find(const scratch *sc, const char *name, size_t len) {
    size_t lo = 0, hi = sc->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = name_cmp(sc->work[mid].name, sc->work[mid].name_len, name, len);
        if (c == 0) return (long)mid;
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return -(long)lo - 1;
}

static void ws_get(const scratch *sc, const char *name, size_t len, const char **v, size_t *vlen) {
    long i = ws_find(sc, name, len);
    *v = i >= 0 ? sc->work[i].value : "";
    *vlen = i >= 0 ? sc->work[i].value_len : 0;
}

static void ws_del(scratch *sc, const char *name, size_t len) {
    long i = ws_find(sc, name, len);
    if (i < 0) return;
    memmove(&sc->work[i], &sc->work[i + 1], (sc->n - (size_t)i - 1) * sizeof *sc->work);
    sc->n--;
}

/* labels.Builder.Set: the empty value deletes.  The strings must outlive
 * the apply (input, rule or arena). */
static void ws_set(scratch *sc, const char *name, size_t len, const char *v, size_t vlen) {
    if (vlen == 0) {
        ws_del(sc, name, len);
        return;
    }
    long i = ws_find(sc, name, len);
    if (i >= 0) {
        sc->work[i].value = v;
        sc->work[i].value_len = (uint32_t)vlen;
        return;
    }
    size_t at = (size_t)(-i - 1);
    if (sc->n == sc->cap) {
        sc->cap = sc->cap ? sc->cap * 2 : 16;
        sc->work = xrealloc(sc->work, sc->cap * sizeof *sc->work);
    }
    memmove(&sc->work[at + 1], &sc->work[at], (sc->n - at) * sizeof *sc->work);
    sc->work[at] = (label){name, (uint32_t)len, v, (uint32_t)vlen};
    sc->n++;
}

/* Joins the source labels' values (absent ones as "") with the separator
 * into sc->val. */
static void join_sources(const relabel_rule *r, scratch *sc) {
    buf_reset(&sc->val);
    for (size_t i = 0; i < r->nsource; i++) {
        if (i) buf_append(&sc->val, r->sep, r->sep_len);
        const char *v;
        size_t vl;
        ws_get(sc, r->source[i], r->source_len[i], &v, &vl);
        buf_append(&sc->val, v, vl);
    }
}

/* Maps every code point of s[0..n) to its lower or upper case into out, as
 * Go's strings.ToLower/ToUpper (simple case mapping; invalid UTF-8 turns
 * into U+FFFD). */
static void change_case(const relabel_rule *r, const char *s, size_t n, buf *out, int upper) {
    buf_reset(out);
    buf_reserve(out, n + 4);
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t k = utf8_decode((const unsigned char *)s + i, n - i, &cp);
        if (cp < 0x80) {
            if (upper && cp >= 'a' && cp <= 'z') cp -= 32;
            else if (!upper && cp >= 'A' && cp <= 'Z') cp += 32;
        } else if (r->loc) {
            cp = (uint32_t)(upper ? towupper_l((wint_t)cp, r->loc) : towlower_l((wint_t)cp, r->loc));
        }
        char enc[4];
        buf_append(out, enc, utf8_encode(cp, enc));
        i += k;
    }
}

/* Runs one rule on the working set; returns 0 when the set is dropped. */
static int apply_one(relabel_rule *r, scratch *sc) {
    join_sources(r, sc);
    const char *val = sc->val.len ? (const char *)sc->val.data : "";
    size_t vlen = sc->val.len;
    switch (r->action) {
    case RELABEL_DROP: return rule_match(r, val, vlen) <= 0;
    case RELABEL_KEEP: return rule_match(r, val, vlen) > 0;
    case RELABEL_DROPEQUAL:
    case RELABEL_KEEPEQUAL: {
        const char *tv;
        size_t tl;
        ws_get(sc, r->target, r->target_len, &tv, &tl);
        int eq = tl == vlen && memcmp(tv, val, vlen) == 0;
        return r->action == RELABEL_KEEPEQUAL ? eq : !eq;
    }
    case RELABEL_REPLACE: {
        int rc = rule_match(r, val, vlen);
        if (rc <= 0) return 1; /* no match, no replacement */
        const char *tname = r->target;
        size_t tlen = r->target_len;
        if (r->target_t.has_dollar) {
            buf_reset(&sc->t1);
            tmpl_expand(&r->target_t, val, r->md, rc, &sc->t1);
            if (!label_name_valid((const char *)sc->t1.data, sc->t1.len)) return 1;
            tname = arena_dup(sc, sc->t1.data, sc->t1.len);
            tlen = sc->t1.len;
        }
        buf_reset(&sc->t2);
        tmpl_expand(&r->repl, val, r->md, rc, &sc->t2);
        if (sc->t2.len == 0) ws_del(sc, tname, tlen);
        else ws_set(sc, tname, tlen, arena_dup(sc, sc->t2.data, sc->t2.len), sc->t2.len);
        return 1;
    }
    case RELABEL_LOWERCASE:
    case RELABEL_UPPERCASE:
        change_case(r, val, vlen, &sc->t1, r->action == RELABEL_UPPERCASE);
        ws_set(sc, r->target, r->target_len, arena_dup(sc, sc->t1.data, sc->t1.len), sc->t1.len);
        return 1;
    case RELABEL_HASHMOD: {
        unsigned char sum[EVP_MAX_MD_SIZE];
        unsigned int sl = 0;
        if (!EVP_DigestInit_ex(r->mdctx, r->md5, NULL) || !EVP_DigestUpdate(r->mdctx, val, vlen) ||
            !EVP_DigestFinal_ex(r->mdctx, sum, &sl) || sl != 16)
            return 1; /* cannot happen with a fetched MD5; leave the set as it is */
        /* Prometheus keeps only the last 8 bytes, read big-endian. */
        uint64_t h = be64_get(sum + 8) % r->modulus;
        char num[24];
        int nl = snprintf(num, sizeof num, "%llu", (unsigned long long)h);
        ws_set(sc, r->target, r->target_len, arena_dup(sc, num, (size_t)nl), (size_t)nl);
        return 1;
    }
    case RELABEL_LABELMAP: {
        if (sc->snap_cap < sc->n) {
            sc->snap_cap = sc->n;
            sc->snap = xrealloc(sc->snap, sc->snap_cap * sizeof *sc->snap);
        }
        size_t ns = sc->n;
        if (ns) memcpy(sc->snap, sc->work, ns * sizeof *sc->snap);
        for (size_t i = 0; i < ns; i++) {
            const label *l = &sc->snap[i];
            int rc = rule_match(r, l->name, l->name_len);
            if (rc <= 0) continue;
            buf_reset(&sc->t1);
            tmpl_expand(&r->repl, l->name, r->md, rc, &sc->t1);
            ws_set(sc, arena_dup(sc, sc->t1.data, sc->t1.len), sc->t1.len, l->value, l->value_len);
        }
        return 1;
    }
    case RELABEL_LABELDROP:
    case RELABEL_LABELKEEP: {
        size_t o = 0;
        for (size_t i = 0; i < sc->n; i++) {
            int m = rule_match(r, sc->work[i].name, sc->work[i].name_len) > 0;
            if (m == (r->action == RELABEL_LABELKEEP)) sc->work[o++] = sc->work[i];
        }
        sc->n = o;
        return 1;
    }
    }
    return 1;
}

int relabel_apply(relabel_rule *const *rules, size_t nrules, const label *in, size_t nin, relabel_builder *out) {
    scratch *sc = out->scratch;
    arena_reset(sc);
    if (sc->cap < nin) {
        sc->cap = nin;
        sc->work = xrealloc(sc->work, sc->cap * sizeof *sc->work);
    }
    sc->n = 0;
    int sorted = 1;
    for (size_t i = 0; i < nin; i++) {
        if (!in[i].value_len) continue;
        if (sc->n && name_cmp(sc->work[sc->n - 1].name, sc->work[sc->n - 1].name_len, in[i].name, in[i].name_len) >= 0)
            sorted = 0;
        sc->work[sc->n++] = in[i];
    }
    if (!sorted) labels_sort(sc->work, sc->n); /* the contract says sorted; cheap to be forgiving */
    /* From here on in[] may be the builder's previous result: its label
     * array has been copied, and its strings stay untouched until the swap
     * below because the new result is written into the spare buffer. */
    for (size_t i = 0; i < nrules; i++) {
        if (!apply_one(rules[i], sc)) {
            out->n = 0;
            return 0;
        }
    }

    /* Copy the result out; reserve first so nothing moves while copying. */
    size_t total = 0;
    for (size_t i = 0; i < sc->n; i++) total += sc->work[i].name_len + sc->work[i].value_len + 2;
    buf_reset(&sc->spare);
    buf_reserve(&sc->spare, total);
    if (out->cap < sc->n) {
        out->cap = sc->n;
        out->labels = xrealloc(out->labels, out->cap * sizeof *out->labels);
    }
    for (size_t i = 0; i < sc->n; i++) {
        const label *l = &sc->work[i];
        char *name = (char *)sc->spare.data + sc->spare.len;
        buf_append(&sc->spare, l->name, l->name_len);
        buf_append(&sc->spare, "", 1);
        char *value = (char *)sc->spare.data + sc->spare.len;
        buf_append(&sc->spare, l->value, l->value_len);
        buf_append(&sc->spare, "", 1);
        out->labels[i] = (label){name, l->name_len, value, l->value_len};
    }
    out->n = sc->n;
    buf t = out->strings;
    out->strings = sc->spare;
    sc->spare = t;
    return 1;
}
