/*
 * expfmt.re - streaming parser for the Prometheus text exposition format
 * (0.0.4) and OpenMetrics 1.0 text.  API, ownership and threads: expfmt.h.
 *
 * DESIGN
 *
 * Both formats are line-oriented: every line is one sample, one metadata
 * entry, a comment or (OpenMetrics) "# EOF".  The parser therefore works a
 * line at a time: expfmt_next() finds the next '\n' with memchr(), parses
 * that line into an item and moves on.  Recovery after an error is free (the
 * line is already consumed) and no state crosses a line except the current
 * metric family (for expfmt_sample.type) and, in OpenMetrics, "# EOF seen".
 *
 * Tokens are recognised by re2c-generated matchers (metric names, label
 * names, the lexical form of a number, the metadata keywords); the glue
 * between tokens (whitespace rules, '{' '=' ',' '}' and quoting) is a few
 * lines of hand-written C per construct, because the two formats differ in
 * exactly that glue: text 0.0.4 tolerates runs of blanks and tabs between
 * tokens, OpenMetrics demands single spaces and no blank lines.  The
 * matchers use re2c's custom API with a bounds-checked peek, so they never
 * read past the end of a line even when the last piece lacks a '\n'.
 *
 * What is accepted follows Prometheus 2.x's own parsers (promparse.go and
 * openmetricsparse.go), so that an exposition Prometheus scrapes, promlite
 * scrapes with the same result:
 *   - values use Go's strconv.ParseFloat syntax without hex floats and '_'
 *     (Prometheus keeps to pre-Go-1.13 float syntax); "NaN" is Go's NaN,
 *     bits 0x7ff8000000000001; a value that overflows is an error;
 *   - label values unescape \\, \" and \n; any other backslash pair is kept
 *     as written; values must be valid UTF-8;
 *   - text timestamps are int64 milliseconds; OpenMetrics timestamps are
 *     float seconds, converted as Prometheus does: (int64)(seconds * 1000);
 *   - a label name repeated within one sample is an error (Prometheus's
 *     storage rejects such a series, failing the scrape).
 * One extension: in a value, "NaN:0x" followed by 16 hex digits stands for
 * the NaN with exactly those bits.  `promlite tsdb dump` writes NaNs other
 * than Go's that way (the staleness marker, for one) so that its output
 * imports back bit-exact.  Prometheus's parsers reject the form, so it can
 * never change the meaning of an exposition they accept.
 *
 * Numbers: the common case, at most 19 significant digits and a power of ten
 * within 10^+-22, is converted exactly with one IEEE multiplication or
 * division when the digits fit in 53 bits (Clinger's fast path: both
 * operands are exact, and IEEE rounds the result correctly).  Everything
 * else goes to strtod(), which is correctly rounded in glibc.  The parser
 * never calls setlocale(), so strtod's decimal point is '.'.
 *
 * Memory: labels are collected in a parser-owned array; label values that
 * hold escapes are unescaped into a scratch buffer that is sized to the
 * current line before the line is parsed (an unescaped value is never
 * longer than its escaped form), so pointers into it stay valid while the
 * line's labels are collected.
 */
#include "ingest/expfmt.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/labels.h"

/* The label set of a sample, including a metric name: more than this many
 * labels is refused as abuse rather than data. */
#define MAX_LABELS 4096

struct expfmt_parser {
    expfmt_format format;
    const char *buf;          /* the current piece of input (borrowed)          */
    size_t len, pos;
    int is_last;
    uint64_t line;            /* line number of the line at pos                 */
    int eof_seen;             /* OpenMetrics "# EOF" consumed                   */
    char *scratch;            /* unescaped label values and help text           */
    size_t scratch_cap;
    size_t scratch_len;
    expfmt_label *labels;
    size_t labels_cap;
    char *family;             /* name of the current metric family (owned)      */
    size_t family_len, family_cap;
    expfmt_type family_type;
    /* The previous sample's label set, for the fast path of parse_sample:
     * its text (a copy) and each label's name and value offsets in it. */
    char *prev_series;
    size_t prev_len, prev_cap, prev_name_len;
    uint32_t *prev_offs;      /* 2 per label: name offset, value offset        */
    size_t prev_nlabels, prev_offs_cap;
    /* The series text the caller expects next (expfmt_expect), borrowed. */
    const char *expect;
    size_t expect_len, expect_name_len;
    char err[384];
};

/* Outcome of parsing one line: an item kind, or a line that yields none. */
#define LINE_SKIP ((expfmt_kind)100)

/* One line being parsed: its bounds and number, for error positions. */
typedef struct {
    expfmt_parser *p;
    const char *start, *end;
    uint64_t line;
} line_ctx;

/* ------------------------------------------------------------ errors */

/* Formats "LINE:COL: reason" for a position within the line and returns
 * EXPFMT_ERROR, so that a failing parse step reads `return fail(...)`. */
static expfmt_kind fail(const line_ctx *lc, const char *at, const char *fmt, ...) {
    expfmt_parser *p = lc->p;
    if (at < lc->start) at = lc->start;
    if (at > lc->end) at = lc->end;
    int n = snprintf(p->err, sizeof p->err, "%llu:%llu: ", (unsigned long long)lc->line,
                     (unsigned long long)(at - lc->start) + 1);
    if (n < 0 || (size_t)n >= sizeof p->err) return EXPFMT_ERROR;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err + n, sizeof p->err - (size_t)n, fmt, ap);
    va_end(ap);
    return EXPFMT_ERROR;
}

/* Writes a token into out as a quoted, printable string (at most ~40 bytes
 * of it) for use in error messages. */
static const char *quote_token(const char *s, const char *e, char *out, size_t outlen) {
    size_t o = 0;
    out[o++] = '"';
    for (; s < e && o + 6 < outlen; s++) {
        unsigned char c = (unsigned char)*s;
        if (o > 40) {
            memcpy(out + o, "...", 3);
            o += 3;
            break;
        }
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c < 0x20 || c == 0x7f) {
            o += (size_t)snprintf(out + o, outlen - o, "\\x%02x", c);
        } else {
            out[o++] = (char)c;
        }
    }
    out[o++] = '"';
    out[o] = 0;
    return out;
}

/* ------------------------------------------------------------ token matchers */

/*!re2c
    re2c:api = custom;
    re2c:api:style = free-form;
    re2c:define:YYCTYPE = "unsigned char";
    re2c:define:YYPEEK = "(cur < lim ? (unsigned char)*cur : 0u)";
    re2c:define:YYSKIP = "++cur;";
    re2c:define:YYBACKUP = "mar = cur;";
    re2c:define:YYRESTORE = "cur = mar;";
    re2c:yyfill:enable = 0;
    re2c:indent:string = "    ";
*/

/* End of the metric name that starts at s, or s when none starts there. */
static const char *match_metric_name(const char *s, const char *lim) {
    const char *cur = s;
    /*!re2c
        [a-zA-Z_:][a-zA-Z0-9_:]* { return cur; }
        *                        { return s; }
    */
}

/* End of the label name that starts at s, or s when none starts there. */
static const char *match_label_name(const char *s, const char *lim) {
    const char *cur = s;
    /*!re2c
        [a-zA-Z_][a-zA-Z0-9_]* { return cur; }
        *                      { return s; }
    */
}

/* Lexical classes of a value token. */
enum num_class { NUM_INVALID, NUM_DECIMAL, NUM_INF, NUM_NEG_INF, NUM_NAN, NUM_NAN_BITS };

/* Classifies the whole token [s, lim) by Go's float syntax (decimal only). */
static enum num_class classify_number(const char *s, const char *lim) {
    const char *cur = s, *mar = s;
    enum num_class c = NUM_INVALID;
    /*!re2c
        digits  = [0-9]+;
        exp     = [eE] [+-]? digits;
        decimal = [+-]? (digits ("." [0-9]*)? | "." digits) exp?;
        hex     = [0-9a-fA-F];

        decimal                          { c = NUM_DECIMAL; goto done; }
        "+"? ('inf' | 'infinity')        { c = NUM_INF; goto done; }
        "-" ('inf' | 'infinity')         { c = NUM_NEG_INF; goto done; }
        'nan'                            { c = NUM_NAN; goto done; }
        "NaN:0x" hex{16}                 { c = NUM_NAN_BITS; goto done; }
        *                                { return NUM_INVALID; }
    */
done:
    (void)mar;
    return cur == lim ? c : NUM_INVALID;
}

/* Metadata keyword after "#": the kind of line and where its text starts. */
enum meta_word { META_NONE, META_HELP, META_TYPE, META_UNIT, META_EOF };

static enum meta_word match_meta_word(const char *s, const char *lim, const char **after) {
    const char *cur = s, *mar = s;
    enum meta_word w = META_NONE;
    /*!re2c
        "HELP" { w = META_HELP; goto done; }
        "TYPE" { w = META_TYPE; goto done; }
        "UNIT" { w = META_UNIT; goto done; }
        "EOF"  { w = META_EOF; goto done; }
        *      { return META_NONE; }
    */
done:
    (void)mar;
    *after = cur;
    return w;
}

/* ------------------------------------------------------------ numbers */

static const double exact_pow10[23] = {
    1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

/* Converts a token already classified NUM_DECIMAL.  Returns 0, or -1 when
 * the value overflows (Go's ParseFloat reports ErrRange then). */
static int decimal_to_double(const char *s, const char *e, double *out) {
    /* Fastest path: at most 19 digits, no exponent ("2792700.65"). */
    if (e - s <= 20) {
        const char *q = s;
        int neg = 0;
        if (*q == '+' || *q == '-') neg = *q++ == '-';
        uint64_t m = 0;
        int ndig = 0, nfrac = 0, seen_point = 0;
        for (; q < e; q++) {
            unsigned d = (unsigned)(*q - '0');
            if (d < 10) {
                m = m * 10 + d;
                ndig++;
                nfrac += seen_point;
            } else if (*q == '.') {
                seen_point = 1;
            } else {
                break; /* an exponent */
            }
        }
        if (q == e && ndig <= 19 && m <= (1ull << 53) && nfrac <= 22) {
            double d = nfrac ? (double)m / exact_pow10[nfrac] : (double)m;
            *out = neg ? -d : d;
            return 0;
        }
    }
    const char *q = s;
    int neg = 0;
    if (*q == '+' || *q == '-') neg = *q++ == '-';
    uint64_t mant = 0;
    int ndigits = 0, exp10 = 0, exact = 1;
    for (; q < e && *q >= '0' && *q <= '9'; q++) {
        if (mant == 0 && *q == '0') continue;
        if (ndigits < 19) mant = mant * 10 + (uint64_t)(*q - '0'), ndigits++;
        else exact = 0;
    }
    if (q < e && *q == '.') {
        for (q++; q < e && *q >= '0' && *q <= '9'; q++) {
            if (mant == 0 && *q == '0') {
                exp10--;
                continue;
            }
            if (ndigits < 19) mant = mant * 10 + (uint64_t)(*q - '0'), ndigits++, exp10--;
            else exact = 0;
        }
    }
    if (exact && q < e) { /* exponent */
        q++;
        int eneg = 0;
        if (*q == '+' || *q == '-') eneg = *q++ == '-';
        int ev = 0;
        for (; q < e; q++) {
            if (ev > 100000) { exact = 0; break; }
            ev = ev * 10 + (*q - '0');
        }
        exp10 += eneg ? -ev : ev;
    }
    if (exact && mant <= (1ull << 53) && exp10 >= -22 && exp10 <= 22) {
        double d = (double)mant;
        d = exp10 < 0 ? d / exact_pow10[-exp10] : d * exact_pow10[exp10];
        *out = neg ? -d : d;
        return 0;
    }
    /* The slow, general path: a NUL-terminated copy for strtod. */
    char small[64];
    size_t n = (size_t)(e - s);
    char *copy = n < sizeof small ? small : malloc(n + 1);
    if (!copy) return -1;
    memcpy(copy, s, n);
    copy[n] = 0;
    errno = 0;
    double d = strtod(copy, NULL);
    if (copy != small) free(copy);
    if (isinf(d)) return -1; /* overflow; underflow to 0 or a subnormal is fine */
    *out = d;
    return 0;
}

/* Parses a sample value token [s, e).  Returns 0 or -1. */
static int parse_value(const char *s, const char *e, int allow_nan_bits, double *out) {
    switch (classify_number(s, e)) {
    case NUM_DECIMAL:
        return decimal_to_double(s, e, out);
    case NUM_INF:
        *out = INFINITY;
        return 0;
    case NUM_NEG_INF:
        *out = -INFINITY;
        return 0;
    case NUM_NAN: {
        uint64_t bits = 0x7ff8000000000001ull; /* Go's math.NaN() */
        memcpy(out, &bits, 8);
        return 0;
    }
    case NUM_NAN_BITS: {
        if (!allow_nan_bits) return -1;
        uint64_t bits = 0;
        for (const char *h = s + 6; h < e; h++)
            bits = bits << 4 | (uint64_t)(*h <= '9' ? *h - '0' : (*h | 0x20) - 'a' + 10);
        memcpy(out, &bits, 8);
        return isnan(*out) ? 0 : -1;
    }
    default:
        return -1;
    }
}

/* Parses a text-format timestamp: a base-10 int64 as Go's ParseInt takes it. */
static int parse_int64(const char *s, const char *e, int64_t *out) {
    int neg = 0;
    if (s < e && (*s == '+' || *s == '-')) neg = *s++ == '-';
    if (s == e) return -1;
    uint64_t v = 0, limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; s < e; s++) {
        if (*s < '0' || *s > '9') return -1;
        unsigned d = (unsigned)(*s - '0');
        if (v > (limit - d) / 10) return -1;
        v = v * 10 + d;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

/* ------------------------------------------------------------ families */

static expfmt_type type_from_word(expfmt_format f, const char *s, size_t n) {
#define IS(w) (n == sizeof(w) - 1 && !memcmp(s, w, n))
    if (IS("counter")) return EXPFMT_TYPE_COUNTER;
    if (IS("gauge")) return EXPFMT_TYPE_GAUGE;
    if (IS("histogram")) return EXPFMT_TYPE_HISTOGRAM;
    if (IS("summary")) return EXPFMT_TYPE_SUMMARY;
    if (f == EXPFMT_TEXT) {
        if (IS("untyped")) return EXPFMT_TYPE_UNKNOWN;
    } else {
        if (IS("unknown")) return EXPFMT_TYPE_UNKNOWN;
        if (IS("gaugehistogram")) return EXPFMT_TYPE_GAUGEHISTOGRAM;
        if (IS("info")) return EXPFMT_TYPE_INFO;
        if (IS("stateset")) return EXPFMT_TYPE_STATESET;
    }
#undef IS
    return (expfmt_type)-1;
}

static void set_family(expfmt_parser *p, const char *name, size_t n, expfmt_type t) {
    if (n > p->family_cap) {
        char *f = realloc(p->family, n);
        if (!f) { /* keep going without a family rather than fail the parse */
            p->family_len = 0;
            p->family_type = EXPFMT_TYPE_UNKNOWN;
            return;
        }
        p->family = f;
        p->family_cap = n;
    }
    if (n) memcpy(p->family, name, n);
    p->family_len = n;
    p->family_type = t;
}

/* The type a sample named name[0..n) has: the current family's type when the
 * name is the family's name or the family's name plus one of the suffixes
 * that family type's samples carry, unknown otherwise. */
static expfmt_type sample_type(const expfmt_parser *p, const char *name, size_t n) {
    if (!p->family_len || n < p->family_len || memcmp(name, p->family, p->family_len)) return EXPFMT_TYPE_UNKNOWN;
    const char *suf = name + p->family_len;
    size_t sn = n - p->family_len;
    if (sn == 0) return p->family_type;
#define SUF(w) (sn == sizeof(w) - 1 && !memcmp(suf, w, sn))
    switch (p->family_type) {
    case EXPFMT_TYPE_COUNTER:
        return SUF("_total") || SUF("_created") ? p->family_type : EXPFMT_TYPE_UNKNOWN;
    case EXPFMT_TYPE_HISTOGRAM:
        return SUF("_bucket") || SUF("_sum") || SUF("_count") || SUF("_created") ? p->family_type
                                                                                 : EXPFMT_TYPE_UNKNOWN;
    case EXPFMT_TYPE_GAUGEHISTOGRAM:
        return SUF("_bucket") || SUF("_gsum") || SUF("_gcount") ? p->family_type : EXPFMT_TYPE_UNKNOWN;
    case EXPFMT_TYPE_SUMMARY:
        return SUF("_sum") || SUF("_count") || SUF("_created") ? p->family_type : EXPFMT_TYPE_UNKNOWN;
    case EXPFMT_TYPE_INFO:
        return SUF("_info") ? p->family_type : EXPFMT_TYPE_UNKNOWN;
    default:
        return EXPFMT_TYPE_UNKNOWN;
    }
#undef SUF
}

/* ------------------------------------------------------------ line pieces */

static int is_blank(char c) { return c == ' ' || c == '\t'; }

static const char *skip_blanks(const char *s, const char *e) {
    while (s < e && is_blank(*s)) s++;
    return s;
}

/* End of a token: the next blank or the end of the line. */
static const char *token_end(const char *s, const char *e) {
    while (s < e && !is_blank(*s)) s++;
    return s;
}

/* Unescapes text [s, e) into the scratch buffer: \\ and \n always, \" too
 * when quote_escape is set; other backslash pairs stay as written.  The
 * scratch buffer holds at least a line, so this cannot overflow. */
static const char *unescape(expfmt_parser *p, const char *s, const char *e, int quote_escape, size_t *outlen) {
    char *o = p->scratch + p->scratch_len, *start = o;
    while (s < e) {
        if (*s == '\\' && s + 1 < e) {
            char c = s[1];
            if (c == '\\' || (c == '"' && quote_escape)) {
                *o++ = c;
                s += 2;
                continue;
            }
            if (c == 'n') {
                *o++ = '\n';
                s += 2;
                continue;
            }
        }
        *o++ = *s++;
    }
    p->scratch_len += (size_t)(o - start);
    *outlen = (size_t)(o - start);
    return start;
}

/* Parses a label set starting at the '{' at *cur, appending to p->labels
 * from index *nlabels; names must be unique from index base on.  blanks:
 * whether blanks may separate tokens (text 0.0.4).  On success *cur is just
 * past the '}'.  May move p->labels (realloc). */
static expfmt_kind parse_labels(const line_ctx *lc, const char **cur, int blanks, size_t base, size_t *nlabels) {
    expfmt_parser *p = lc->p;
    const char *s = *cur + 1, *e = lc->end;
    size_t n = *nlabels;
    if (base == 0) p->prev_len = 0; /* the labels kept for the fast path get overwritten */
    for (;;) {
        if (blanks) s = skip_blanks(s, e);
        if (s < e && *s == '}') break;
        const char *name = s, *name_end = match_label_name(s, e);
        if (name_end == name) {
            if (s == e) return fail(lc, s, "unexpected end of line in label set, expected a label name or '}'");
            return fail(lc, s, "invalid label name: expected [a-zA-Z_][a-zA-Z0-9_]* or '}'");
        }
        s = name_end;
        if (blanks) s = skip_blanks(s, e);
        if (s >= e || *s != '=') return fail(lc, s, "expected '=' after label name \"%.*s\"", (int)(name_end - name), name);
        s++;
        if (blanks) s = skip_blanks(s, e);
        if (s >= e || *s != '"') return fail(lc, s, "expected '\"' to start the value of label \"%.*s\"",
                                             (int)(name_end - name), name);
        const char *vstart = ++s;
        int escaped = 0;
        while (s < e && *s != '"') {
            if (*s == '\\') {
                escaped = 1;
                if (++s >= e) break;
            }
            s++;
        }
        if (s >= e) return fail(lc, vstart - 1, "unterminated value of label \"%.*s\"", (int)(name_end - name), name);
        const char *vend = s++;
        const char *value = vstart;
        size_t vlen = (size_t)(vend - vstart);
        if (escaped) value = unescape(p, vstart, vend, 1, &vlen);
        if (!utf8_valid(value, vlen))
            return fail(lc, vstart, "invalid UTF-8 in the value of label \"%.*s\"", (int)(name_end - name), name);
        size_t nlen = (size_t)(name_end - name);
        if (nlen == 8 && !memcmp(name, "__name__", 8))
            return fail(lc, name, "label name \"__name__\" not allowed here: the metric name comes before '{'");
        for (size_t i = base; i < n; i++)
            if (p->labels[i].name_len == nlen && !memcmp(p->labels[i].name, name, nlen))
                return fail(lc, name, "duplicate label name \"%.*s\"", (int)nlen, name);
        if (n == p->labels_cap) {
            if (n >= MAX_LABELS) return fail(lc, name, "more than %d labels in one sample", MAX_LABELS);
            size_t cap = p->labels_cap ? p->labels_cap * 2 : 16;
            expfmt_label *l = realloc(p->labels, cap * sizeof *l);
            if (!l) return fail(lc, name, "out of memory");
            p->labels = l;
            p->labels_cap = cap;
        }
        p->labels[n++] = (expfmt_label){name, nlen, value, vlen};
        if (blanks) s = skip_blanks(s, e);
        if (s < e && *s == ',') {
            s++;
            continue;
        }
        if (s < e && *s == '}') break;
        return fail(lc, s, s < e ? "expected ',' or '}' after a label value" : "unexpected end of line in label set, expected ',' or '}'");
    }
    *cur = s + 1;
    *nlabels = n;
    return EXPFMT_SAMPLE;
}

/* ------------------------------------------------------------ lines */

/* Keeps a copy of a label set's text [series, series + len) and where its
 * labels lie in it, for the fast path of parse_sample.  Label sets with an
 * escaped value are not kept (their values live in the scratch buffer, not
 * in the text), nor is anything when memory runs short. */
static void remember_series(expfmt_parser *p, const char *series, size_t len, size_t name_len, size_t nlabels) {
    p->prev_len = 0;
    for (size_t i = 0; i < nlabels; i++) {
        const char *v = p->labels[i].value;
        if (v < series || v > series + len) return; /* unescaped copy */
    }
    if (len > p->prev_cap) {
        char *c = realloc(p->prev_series, len);
        if (!c) return;
        p->prev_series = c;
        p->prev_cap = len;
    }
    if (2 * nlabels > p->prev_offs_cap) {
        uint32_t *o = realloc(p->prev_offs, 2 * nlabels * sizeof *o);
        if (!o) return;
        p->prev_offs = o;
        p->prev_offs_cap = 2 * nlabels;
    }
    for (size_t i = 0; i < nlabels; i++) {
        p->prev_offs[2 * i] = (uint32_t)(p->labels[i].name - series);
        p->prev_offs[2 * i + 1] = (uint32_t)(p->labels[i].value - series);
    }
    memcpy(p->prev_series, series, len);
    p->prev_len = len;
    p->prev_name_len = name_len;
    p->prev_nlabels = nlabels;
}

/* Whether the line from s (to e) starts with the expected series text and
 * goes on as a line holding exactly that series would: with the value's
 * separator, and in text 0.0.4 no label set after a label-less name's
 * blanks ("up {a=...}" is not the series "up"). */
static int expected_here(const expfmt_parser *p, const char *s, const char *e) {
    size_t n = p->expect_len;
    if ((size_t)(e - s) <= n || memcmp(s, p->expect, n)) return 0;
    const char *q = s + n;
    if (p->format != EXPFMT_TEXT) return *q == ' ';
    if (*q != ' ' && *q != '\t') return 0;
    if (p->expect[n - 1] == '}') return 1;
    q = skip_blanks(q, e);
    return q < e && *q != '{';
}

/* Parses "name[{labels}] value [timestamp]" and, in OpenMetrics, an
 * optional " # {labels} value [timestamp]" exemplar, which is checked and
 * dropped. */
static expfmt_kind parse_sample(const line_ctx *lc, const char *s, expfmt_item *it) {
    expfmt_parser *p = lc->p;
    const int text = p->format == EXPFMT_TEXT;
    const char *e = lc->end, *name = s, *name_end;
    size_t nlabels = 0;
    expfmt_sample *smp = &it->sample;
    smp->expected = 0;
    int expected = p->expect && expected_here(p, s, e);
    p->expect = NULL; /* one line's prediction */
    if (expected) {
        /* Bytes parsed and found valid before parse the same: skip the name
         * and labels, which are most of a sample's parsing. */
        name_end = s + p->expect_name_len;
        smp->series_len = p->expect_len;
        s += p->expect_len;
        smp->expected = 1;
    } else if (p->prev_len && (size_t)(e - s) >= p->prev_len && !memcmp(s, p->prev_series, p->prev_len)) {
        /* The same name and label set as the previous sample, byte for byte
         * (the usual case in backfill data, where a series' samples follow
         * each other): it parses the same, so re-point the previous labels. */
        name_end = s + p->prev_name_len;
        nlabels = p->prev_nlabels;
        for (size_t i = 0; i < nlabels; i++) {
            p->labels[i].name = s + p->prev_offs[2 * i];
            p->labels[i].value = s + p->prev_offs[2 * i + 1];
        }
        s += p->prev_len;
        smp->series_len = p->prev_len;
    } else {
        name_end = match_metric_name(s, e);
        if (name_end == name) {
            char q[64];
            return fail(lc, s, "invalid metric name %s: expected [a-zA-Z_:][a-zA-Z0-9_:]*",
                        quote_token(s, token_end(s, e), q, sizeof q));
        }
        s = name_end;
        if (text) s = skip_blanks(s, e);
        smp->series_len = (size_t)(name_end - name);
        if (s < e && *s == '{') {
            expfmt_kind k = parse_labels(lc, &s, text, 0, &nlabels);
            if (k == EXPFMT_ERROR) return k;
            smp->series_len = (size_t)(s - name);
            remember_series(p, name, smp->series_len, (size_t)(name_end - name), nlabels);
        } else {
            s = name_end;
        }
    }
    smp->metric = name;
    smp->metric_len = (size_t)(name_end - name);
    smp->series = name;
    smp->nlabels = nlabels;

    /* value */
    if (text) {
        const char *b = s;
        s = skip_blanks(s, e);
        if (s == e) return fail(lc, s, "missing sample value");
        if (s == b && s[-1] != '}') return fail(lc, s, "invalid character in metric name");
    } else {
        if (s >= e) return fail(lc, s, "missing sample value");
        if (*s != ' ') return fail(lc, s, "expected a single space before the sample value");
        s++;
    }
    const char *v = s, *ve = token_end(s, e);
    if (v == ve) return fail(lc, v, "missing sample value");
    if (parse_value(v, ve, text, &smp->value)) {
        char q[64];
        return fail(lc, v, "invalid sample value %s", quote_token(v, ve, q, sizeof q));
    }
    s = ve;

    /* timestamp */
    smp->has_timestamp = 0;
    smp->timestamp_ms = 0;
    if (text) {
        s = skip_blanks(s, e);
        if (s < e) {
            const char *te = token_end(s, e);
            if (parse_int64(s, te, &smp->timestamp_ms)) {
                char q[64];
                return fail(lc, s, "invalid timestamp %s: expected integer milliseconds", quote_token(s, te, q, sizeof q));
            }
            smp->has_timestamp = 1;
            s = skip_blanks(te, e);
            if (s < e) return fail(lc, s, "unexpected text after the timestamp");
        }
    } else if (s < e) {
        if (*s != ' ') return fail(lc, s, "expected a single space after the sample value");
        s++;
        if (s < e && *s != '#') {
            const char *te = token_end(s, e);
            double sec;
            if (te == s || classify_number(s, te) != NUM_DECIMAL || decimal_to_double(s, te, &sec)) {
                char q[64];
                return fail(lc, s, "invalid timestamp %s: expected seconds", quote_token(s, te, q, sizeof q));
            }
            double ms = sec * 1000.0;
            if (!(ms > -9.2233720368547758e18 && ms < 9.2233720368547758e18))
                return fail(lc, s, "timestamp out of range");
            smp->timestamp_ms = (int64_t)ms;
            smp->has_timestamp = 1;
            s = te;
            if (s < e) {
                if (*s != ' ' || s + 1 >= e || s[1] != '#')
                    return fail(lc, s, "unexpected text after the timestamp");
                s++;
            }
        }
        if (s < e) { /* exemplar: "# {labels} value [timestamp]" */
            if (s + 2 >= e || s[1] != ' ' || s[2] != '{') return fail(lc, s, "invalid exemplar: expected \"# {\"");
            s += 2;
            size_t xn = nlabels;
            expfmt_kind k = parse_labels(lc, &s, 0, nlabels, &xn);
            if (k == EXPFMT_ERROR) return k;
            if (s >= e || *s != ' ') return fail(lc, s, "expected a single space before the exemplar value");
            s++;
            const char *xe = token_end(s, e);
            double xv;
            if (xe == s || parse_value(s, xe, 0, &xv)) {
                char q[64];
                return fail(lc, s, "invalid exemplar value %s", quote_token(s, xe, q, sizeof q));
            }
            s = xe;
            if (s < e) {
                if (*s != ' ') return fail(lc, s, "unexpected text after the exemplar value");
                s++;
                xe = token_end(s, e);
                if (xe == s || classify_number(s, xe) != NUM_DECIMAL || decimal_to_double(s, xe, &xv)) {
                    char q[64];
                    return fail(lc, s, "invalid exemplar timestamp %s", quote_token(s, xe, q, sizeof q));
                }
                if (xe < e) return fail(lc, xe, "unexpected text after the exemplar");
            }
        }
    }
    smp->labels = p->labels; /* only now: an exemplar's labels may move them */
    smp->type = sample_type(p, name, smp->metric_len);
    return EXPFMT_SAMPLE;
}

/* Parses a HELP, TYPE or UNIT line from the metric name on (s).  In text
 * 0.0.4 the name may be followed by blanks; the text starts after one. */
static expfmt_kind parse_meta(const line_ctx *lc, enum meta_word w, const char *s, expfmt_item *it) {
    expfmt_parser *p = lc->p;
    const int text = p->format == EXPFMT_TEXT;
    const char *e = lc->end, *name = s, *name_end = match_metric_name(s, e);
    const char *what = w == META_HELP ? "HELP" : w == META_TYPE ? "TYPE" : "UNIT";
    if (name_end == name) return fail(lc, s, "invalid metric name in %s line", what);
    if (name_end < e && !is_blank(*name_end)) return fail(lc, name_end, "invalid character in metric name");
    if (!text && name_end < e && *name_end != ' ') return fail(lc, name_end, "expected a single space after the metric name");
    expfmt_meta *m = &it->meta;
    m->name = name;
    m->name_len = (size_t)(name_end - name);
    m->text = "";
    m->text_len = 0;
    m->type = EXPFMT_TYPE_UNKNOWN;
    const char *t = name_end < e ? name_end + 1 : e; /* text after one blank */
    switch (w) {
    case META_HELP:
        m->text = unescape(p, t, e, !text, &m->text_len);
        if (!utf8_valid(m->text, m->text_len)) return fail(lc, t, "invalid UTF-8 in HELP text");
        if (p->family_len != m->name_len || memcmp(p->family, name, m->name_len))
            set_family(p, name, m->name_len, EXPFMT_TYPE_UNKNOWN);
        return EXPFMT_HELP;
    case META_UNIT:
        if (!utf8_valid(t, (size_t)(e - t))) return fail(lc, t, "invalid UTF-8 in UNIT");
        m->text = t;
        m->text_len = (size_t)(e - t);
        if (p->family_len != m->name_len || memcmp(p->family, name, m->name_len))
            set_family(p, name, m->name_len, EXPFMT_TYPE_UNKNOWN);
        return EXPFMT_UNIT;
    default: {
        if (text) t = skip_blanks(t, e);
        const char *te = text ? token_end(t, e) : e;
        expfmt_type ty = type_from_word(p->format, t, (size_t)(te - t));
        if ((int)ty < 0) {
            char q[64];
            return fail(lc, t, "invalid metric type %s", quote_token(t, te, q, sizeof q));
        }
        if (text && skip_blanks(te, e) < e) return fail(lc, skip_blanks(te, e), "unexpected text after the metric type");
        m->type = ty;
        set_family(p, name, m->name_len, ty);
        return EXPFMT_TYPE;
    }
    }
}

/* A line that starts with '#'. */
static expfmt_kind parse_comment(const line_ctx *lc, const char *s, expfmt_item *it) {
    const int text = lc->p->format == EXPFMT_TEXT;
    const char *e = lc->end, *after;
    s++; /* the '#' */
    if (text) {
        /* As Prometheus's lexer: "#" and blanks, then HELP or TYPE and a
         * blank; anything else ("#HELP" included) is a comment. */
        if (s >= e || !is_blank(*s)) return LINE_SKIP;
        s = skip_blanks(s, e);
        enum meta_word w = match_meta_word(s, e, &after);
        if ((w == META_HELP || w == META_TYPE) && after < e && is_blank(*after))
            return parse_meta(lc, w, skip_blanks(after, e), it);
        return LINE_SKIP; /* any other comment */
    }
    if (s >= e || *s != ' ') return fail(lc, s, "expected \"# \" followed by HELP, TYPE, UNIT or EOF");
    s++;
    enum meta_word w = match_meta_word(s, e, &after);
    if (w == META_EOF && after == e) {
        lc->p->eof_seen = 1;
        return EXPFMT_EOF;
    }
    if (w != META_NONE && w != META_EOF && after < e && *after == ' ') return parse_meta(lc, w, after + 1, it);
    return fail(lc, s, "invalid metadata line: expected HELP, TYPE, UNIT or EOF (OpenMetrics has no comments)");
}

/* ------------------------------------------------------------ API */

expfmt_parser *expfmt_new(expfmt_format format) {
    expfmt_parser *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->format = format;
    p->line = 1;
    return p;
}

void expfmt_reset(expfmt_parser *p, expfmt_format format) {
    expfmt_parser keep = *p;
    memset(p, 0, sizeof *p);
    p->scratch = keep.scratch;
    p->scratch_cap = keep.scratch_cap;
    p->labels = keep.labels;
    p->labels_cap = keep.labels_cap;
    p->family = keep.family;
    p->family_cap = keep.family_cap;
    p->prev_series = keep.prev_series;
    p->prev_cap = keep.prev_cap;
    p->prev_offs = keep.prev_offs;
    p->prev_offs_cap = keep.prev_offs_cap;
    p->format = format;
    p->line = 1;
}

void expfmt_free(expfmt_parser *p) {
    if (!p) return;
    free(p->scratch);
    free(p->labels);
    free(p->family);
    free(p->prev_series);
    free(p->prev_offs);
    free(p);
}

void expfmt_expect(expfmt_parser *p, const char *series, size_t len) {
    p->expect = len ? series : NULL;
    p->expect_len = len;
    if (!len) return;
    /* The metric name ends at '{' (less blanks before it in text 0.0.4), or
     * is all of a label-less series. */
    const char *brace = memchr(series, '{', len);
    size_t n = brace ? (size_t)(brace - series) : len;
    while (n && (series[n - 1] == ' ' || series[n - 1] == '\t')) n--;
    p->expect_name_len = n;
}

void expfmt_input(expfmt_parser *p, const char *data, size_t len, int is_last) {
    p->buf = data;
    p->len = len;
    p->pos = 0;
    p->is_last = is_last;
}

expfmt_kind expfmt_next(expfmt_parser *p, expfmt_item *item) {
    for (;;) {
        if (p->pos >= p->len) return EXPFMT_END;
        const char *start = p->buf + p->pos;
        const char *nl = memchr(start, '\n', p->len - p->pos);
        const char *end = nl ? nl : p->buf + p->len;
        p->pos = (size_t)(end - p->buf) + (nl != NULL);
        line_ctx lc = {p, start, end, p->line++};
        item->line = lc.line;
        size_t need = (size_t)(end - start) + 1;
        if (need > p->scratch_cap) {
            size_t cap = p->scratch_cap ? p->scratch_cap : 256;
            while (cap < need) cap *= 2;
            char *s = realloc(p->scratch, cap);
            if (!s) return fail(&lc, start, "out of memory");
            p->scratch = s;
            p->scratch_cap = cap;
        }
        p->scratch_len = 0;

        expfmt_kind k;
        if (p->eof_seen) {
            k = fail(&lc, start, "unexpected data after \"# EOF\"");
        } else if (p->format == EXPFMT_TEXT) {
            const char *s = skip_blanks(start, end);
            if (s == end) continue; /* blank line */
            k = *s == '#' ? parse_comment(&lc, s, item) : parse_sample(&lc, s, item);
        } else if (start == end) {
            k = fail(&lc, start, "empty line (not allowed in OpenMetrics)");
        } else {
            k = *start == '#' ? parse_comment(&lc, start, item) : parse_sample(&lc, start, item);
        }
        if (k == LINE_SKIP) continue;
        item->kind = k;
        return k;
    }
}

const char *expfmt_error(const expfmt_parser *p) { return p->err; }

int expfmt_finish(expfmt_parser *p) {
    if (p->format == EXPFMT_OPENMETRICS && !p->eof_seen) {
        snprintf(p->err, sizeof p->err, "%llu:1: unexpected end of input: OpenMetrics data must end with \"# EOF\"",
                 (unsigned long long)p->line);
        return -1;
    }
    return 0;
}
