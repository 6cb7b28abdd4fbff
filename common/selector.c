/*
 * selector.c - see selector.h.
 *
 * The selector grammar here is the small subset of PromQL that names series
 * (used by `tsdb dump --match`); it is hand-written because it is a dozen
 * productions.  String literals accept PromQL's three quote styles and the
 * escapes of Go string literals that occur in practice (\\ \" \' \n \t).
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "common/selector.h"

#include <ctype.h>
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

#include "common/labels.h"

int matcher_init(matcher *m, match_op op, const char *name, size_t name_len, const char *value,
                 size_t value_len, errbuf *err) {
    memset(m, 0, sizeof *m);
    m->op = op;
    m->name = xstrndup(name, name_len);
    m->name_len = name_len;
    m->value = xstrndup(value, value_len);
    m->value_len = value_len;
    if (op == MATCH_RE || op == MATCH_NRE) {
        buf pat = {0};
        buf_append(&pat, "^(?:", 4);
        buf_append(&pat, value, value_len);
        buf_append(&pat, ")$", 2);
        int code;
        PCRE2_SIZE off;
        pcre2_code *re = pcre2_compile(pat.data, pat.len, PCRE2_UTF | PCRE2_DOLLAR_ENDONLY, &code, &off, NULL);
        buf_free(&pat);
        if (!re) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(code, msg, sizeof msg);
            matcher_free(m);
            return errf(err, "invalid regular expression \"%.*s\": %s", (int)value_len, value, (char *)msg);
        }
        pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* falls back to the interpreter if JIT is unavailable */
        m->re = re;
        m->match_data = pcre2_match_data_create_from_pattern(re, NULL);
    }
    return 0;
}

void matcher_free(matcher *m) {
    free(m->name);
    free(m->value);
    if (m->match_data) pcre2_match_data_free(m->match_data);
    if (m->re) pcre2_code_free(m->re);
    memset(m, 0, sizeof *m);
}

void matchers_free(matcher *m, size_t n) {
    for (size_t i = 0; i < n; i++) matcher_free(&m[i]);
    free(m);
}

int matcher_matches(const matcher *m, const char *value, size_t len) {
    switch (m->op) {
    case MATCH_EQ: return len == m->value_len && memcmp(value, m->value, len) == 0;
    case MATCH_NEQ: return !(len == m->value_len && memcmp(value, m->value, len) == 0);
    case MATCH_RE:
    case MATCH_NRE: {
        int rc = pcre2_match(m->re, (PCRE2_SPTR)(value ? value : ""), len, 0, 0, m->match_data, NULL);
        return (rc >= 0) == (m->op == MATCH_RE);
    }
    }
    return 0;
}

typedef struct {
    const char *s, *p;
    errbuf *err;
} sel_parser;

static void skip_space(sel_parser *sp) {
    while (isspace((unsigned char)*sp->p)) sp->p++;
}

static int sel_error(sel_parser *sp, const char *what) {
    return errf(sp->err, "col %ld: %s", (long)(sp->p - sp->s) + 1, what);
}

/* Reads an identifier of metric-name characters into [*start, *len). */
static int read_ident(sel_parser *sp, const char **start, size_t *len, int allow_colon) {
    const char *q = sp->p;
    while (isalnum((unsigned char)*q) || *q == '_' || (allow_colon && *q == ':')) q++;
    if (q == sp->p || isdigit((unsigned char)*sp->p)) return -1;
    *start = sp->p;
    *len = (size_t)(q - sp->p);
    sp->p = q;
    return 0;
}

/* Reads a quoted string literal into out (unescaped). */
static int read_string(sel_parser *sp, buf *out) {
    char q = *sp->p;
    if (q != '"' && q != '\'' && q != '`') return sel_error(sp, "expected a quoted string");
    sp->p++;
    while (*sp->p && *sp->p != q) {
        char c = *sp->p++;
        if (c == '\\' && q != '`') {
            char e = *sp->p++;
            switch (e) {
            case '\\': case '"': case '\'': buf_append(out, &e, 1); break;
            case 'n': buf_append(out, "\n", 1); break;
            case 't': buf_append(out, "\t", 1); break;
            default: sp->p--; return sel_error(sp, "unknown escape sequence in string");
            }
        } else {
            buf_append(out, &c, 1);
        }
    }
    if (*sp->p != q) return sel_error(sp, "unterminated string");
    sp->p++;
    return 0;
}

int selector_parse(const char *s, matcher **out, size_t *n, errbuf *err) {
    sel_parser sp = {s, s, err};
    matcher *ms = NULL;
    size_t count = 0, cap = 0;
    buf val = {0};
    const char *name;
    size_t name_len;

    skip_space(&sp);
    if (*sp.p != '{') {
        if (read_ident(&sp, &name, &name_len, 1)) {
            sel_error(&sp, "expected a metric name or '{'");
            goto fail;
        }
        cap = 4;
        ms = xcalloc(cap, sizeof *ms);
        matcher_init(&ms[count++], MATCH_EQ, METRIC_NAME_LABEL, 8, name, name_len, NULL);
        skip_space(&sp);
    }
    if (*sp.p == '{') {
        sp.p++;
        for (;;) {
            skip_space(&sp);
            if (*sp.p == '}') break;
            if (read_ident(&sp, &name, &name_len, 0)) {
                sel_error(&sp, "expected a label name");
                goto fail;
            }
            skip_space(&sp);
            match_op op;
            if (sp.p[0] == '=' && sp.p[1] == '~') { op = MATCH_RE; sp.p += 2; }
            else if (sp.p[0] == '!' && sp.p[1] == '~') { op = MATCH_NRE; sp.p += 2; }
            else if (sp.p[0] == '!' && sp.p[1] == '=') { op = MATCH_NEQ; sp.p += 2; }
            else if (sp.p[0] == '=') { op = MATCH_EQ; sp.p += 1; }
            else {
                sel_error(&sp, "expected one of =, !=, =~, !~");
                goto fail;
            }
            skip_space(&sp);
            buf_reset(&val);
            if (read_string(&sp, &val)) goto fail;
            if (count == cap) {
                cap = cap ? cap * 2 : 4;
                ms = xrealloc(ms, cap * sizeof *ms);
            }
            if (matcher_init(&ms[count], op, name, name_len, val.len ? (char *)val.data : "", val.len, err))
                goto fail;
            count++;
            skip_space(&sp);
            if (*sp.p == ',') {
                sp.p++;
                continue;
            }
            if (*sp.p != '}') {
                sel_error(&sp, "expected ',' or '}'");
                goto fail;
            }
            break;
        }
        sp.p++;
    }
    skip_space(&sp);
    if (*sp.p) {
        sel_error(&sp, "unexpected text after the selector");
        goto fail;
    }
    int nonempty = 0;
    for (size_t i = 0; i < count; i++)
        if (!matcher_matches(&ms[i], "", 0)) nonempty = 1;
    if (!nonempty) {
        errf(err, "vector selector must contain at least one non-empty matcher");
        goto fail;
    }
    buf_free(&val);
    *out = ms;
    *n = count;
    return 0;
fail:
    buf_free(&val);
    matchers_free(ms, count);
    return -1;
}
