/*
 * matchers.c - Alertmanager's label matchers (see matchers.h).
 *
 * Three parts:
 *
 * 1. The text syntax, written after Alertmanager 0.25's pkg/labels/parse.go
 *    step for step, because its quirks are visible to users and scripts:
 *    a list is cut at commas outside double quotes (a quote preceded by an
 *    odd run of backslashes does not count), only the last piece is
 *    trimmed, and each piece must read as
 *    ^\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(=~|=|!=|!~)\s*(.*?)\s*$, after which
 *    the value is unquoted and unescaped.  Alertmanager's Go code walks the
 *    list rune by rune, so a byte that is not UTF-8 becomes U+FFFD there;
 *    the same happens here.
 *
 * 2. Regular expressions.  Alertmanager compiles patterns with Go's regexp
 *    (RE2 syntax); promlite matches with PCRE2, which accepts a superset
 *    and gives some escapes other meanings.  So a pattern is first parsed
 *    by a small parser that follows Go's regexp/syntax parser: it refuses
 *    exactly what Go refuses (lookarounds, backreferences, \Z, possessive
 *    or stacked repetitions, counts over 1000, bad classes ...) with Go's
 *    message and the same offending text, and as it goes it writes the
 *    PCRE2 pattern that means the same: every escaped or class character
 *    becomes \x{..} (so \v, octal escapes and '-' inside classes cannot be
 *    misread), \s and \S are spelled out (PCRE2's include \v, Go's do not),
 *    a '{' that Go takes literally becomes \{, an assertion that Go lets a
 *    repetition follow (^*) is wrapped in a group, and the rest is copied.  The result is compiled with UTF, $ only at the very end (Go's
 *    default), LF as the only newline and duplicate group names allowed,
 *    then JIT-compiled.  A compiled pattern is read-only, so threads share
 *    it; each match call makes its own match data.
 *
 * 3. Matching and formatting, the straightforward part.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "alert/matchers.h"

#include <pcre2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Go's regexp refuses counts above this, and nested counts whose product
 * exceeds it. */
#define GO_MAX_REPEAT 1000

/* ------------------------------------------------------------ UTF-8 */

/* Decodes one UTF-8 sequence as Go's utf8.DecodeRune does: returns the code
 * point and sets *len; an invalid, overlong, surrogate or truncated
 * sequence returns -1 with *len = 1 (Go's RuneError, width 1). */
static int32_t utf8_decode(const unsigned char *p, const unsigned char *end, size_t *len) {
    *len = 1;
    if (p >= end) return -1;
    unsigned c = p[0];
    if (c < 0x80) return (int32_t)c;
    size_t n;
    unsigned lo = 0x80, hi = 0xBF;
    int32_t cp;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
        cp = (int32_t)(c & 0x1F);
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        cp = (int32_t)(c & 0x0F);
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        cp = (int32_t)(c & 0x07);
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else {
        return -1;
    }
    if ((size_t)(end - p) < n) return -1;
    for (size_t i = 1; i < n; i++) {
        unsigned b = p[i];
        if (i == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF)) return -1;
        cp = (cp << 6) | (int32_t)(b & 0x3F);
    }
    *len = n;
    return cp;
}

static int utf8_valid_n(const char *s, size_t n) {
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    while (p < end) {
        size_t l;
        if (utf8_decode(p, end, &l) < 0) return 0;
        p += l;
    }
    return 1;
}

/* Appends one code point as UTF-8 (the list parser writes U+FFFD). */
static void utf8_put(buf *b, int32_t cp) {
    unsigned char o[4];
    size_t n;
    uint32_t c = (uint32_t)cp;
    if (c < 0x80) {
        o[0] = (unsigned char)c;
        n = 1;
    } else if (c < 0x800) {
        o[0] = (unsigned char)(0xC0 | (c >> 6));
        o[1] = (unsigned char)(0x80 | (c & 0x3F));
        n = 2;
    } else if (c < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (c >> 12));
        o[1] = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (c & 0x3F));
        n = 3;
    } else {
        o[0] = (unsigned char)(0xF0 | (c >> 18));
        o[1] = (unsigned char)(0x80 | ((c >> 12) & 0x3F));
        o[2] = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
        o[3] = (unsigned char)(0x80 | (c & 0x3F));
        n = 4;
    }
    buf_append(b, o, n);
}

/* Go's unicode.IsSpace, which strings.TrimSpace uses. */
static int go_unicode_space(int32_t r) {
    switch (r) {
    case '\t': case '\n': case '\v': case '\f': case '\r': case ' ': case 0x85: case 0xA0: case 0x1680:
    case 0x2028: case 0x2029: case 0x202F: case 0x205F: case 0x3000:
        return 1;
    default:
        return r >= 0x2000 && r <= 0x200A;
    }
}

/* An approximation of Go's strconv.IsPrint for code points >= 0x80: what
 * Go would escape in %q output is control, format, separator and private
 * use characters, listed here by the ranges that occur in practice. */
static int go_printable_nonascii(int32_t r) {
    if (r < 0xA0 || r == 0xAD) return 0;
    if (r == 0xA0 || r == 0x1680 || (r >= 0x2000 && r <= 0x200F) || (r >= 0x2028 && r <= 0x202F) ||
        (r >= 0x205F && r <= 0x206F) || r == 0x3000 || r == 0xFEFF || (r >= 0xFFF9 && r <= 0xFFFB))
        return 0;
    if ((r >= 0x600 && r <= 0x605) || r == 0x61C || r == 0x6DD || r == 0x70F || r == 0x180E) return 0;
    if ((r >= 0xE000 && r <= 0xF8FF) || r >= 0xF0000 || (r & 0xFFFE) == 0xFFFE) return 0;
    return 1;
}

/* strconv.Quote: rune by rune, bytes that are not UTF-8 as \xNN. */
void am_go_quote(buf *out, const char *s, size_t n) {
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    buf_append(out, "\"", 1);
    while (p < end) {
        size_t l;
        int32_t r = utf8_decode(p, end, &l);
        if (r < 0) {
            buf_printf(out, "\\x%02x", p[0]);
        } else if (r == '"' || r == '\\') {
            buf_printf(out, "\\%c", (char)r);
        } else if (r >= 0x20 && r < 0x7F) {
            buf_append(out, p, 1);
        } else if (r >= 0x80 && go_printable_nonascii(r)) {
            buf_append(out, p, l);
        } else {
            switch (r) {
            case '\a': buf_append(out, "\\a", 2); break;
            case '\b': buf_append(out, "\\b", 2); break;
            case '\f': buf_append(out, "\\f", 2); break;
            case '\n': buf_append(out, "\\n", 2); break;
            case '\r': buf_append(out, "\\r", 2); break;
            case '\t': buf_append(out, "\\t", 2); break;
            case '\v': buf_append(out, "\\v", 2); break;
            default:
                if (r < 0x20 || r == 0x7F) buf_printf(out, "\\x%02x", (unsigned)r);
                else if (r < 0x10000) buf_printf(out, "\\u%04x", (unsigned)r);
                else buf_printf(out, "\\U%08x", (unsigned)r);
            }
        }
        p += l;
    }
    buf_append(out, "\"", 1);
}

/* ------------------------------------------------------------ Go regexp syntax */

/* One open group while parsing: whether it has an item a repetition could
 * apply to (Go refuses one right after '(' or '|'), and the repeat weights
 * Go's repeatIsValid tracks (the product of the counts {n} nested along
 * any path must stay within GO_MAX_REPEAT). */
typedef struct {
    int has_last;
    unsigned long last_w;
    unsigned long max_w;
} rx_frame;

typedef struct {
    const char *whole, *end; /* the expression as given, for messages */
    buf *out;                /* the PCRE2 pattern being written */
    errbuf *err;
    rx_frame *fr;
    size_t depth, cap;       /* fr[0] is the top level */
} rx_parser;

static int rx_fail(rx_parser *rx, const char *code, const char *expr, size_t len) {
    return errf(rx->err, "error parsing regexp: %s: `%.*s`", code, (int)len, expr);
}

static rx_frame *rx_top(rx_parser *rx) { return &rx->fr[rx->depth - 1]; }

/* An item a repetition may follow, with its repeat weight. */
static void rx_atom(rx_parser *rx, unsigned long w) {
    rx_frame *f = rx_top(rx);
    f->has_last = 1;
    f->last_w = w;
    if (w > f->max_w) f->max_w = w;
}

static void rx_push_group(rx_parser *rx) {
    if (rx->depth == rx->cap) {
        rx->cap *= 2;
        rx->fr = xrealloc(rx->fr, rx->cap * sizeof *rx->fr);
    }
    rx->fr[rx->depth++] = (rx_frame){0, 1, 1};
}

/* A literal code point, written so PCRE2 cannot read it as anything else. */
static void rx_emit_cp(rx_parser *rx, int32_t cp) { buf_printf(rx->out, "\\x{%x}", (unsigned)cp); }

/* An assertion (^ $ \A \z \b \B) or '.', copied.  Go lets a repetition
 * follow an assertion (^* is valid), PCRE2 does not, so one that is
 * followed by a repetition operator is wrapped in a group. */
static void rx_emit_repeatable(rx_parser *rx, const char *s, size_t n) {
    int wrap = s[0] != '.' && s + n < rx->end && s[n] != 0 && strchr("*+?{", s[n]) != NULL;
    if (wrap) buf_append(rx->out, "(?:", 3);
    buf_append(rx->out, s, n);
    if (wrap) buf_append(rx->out, ")", 1);
    rx_atom(rx, 1);
}

/* Go's nextRune: the code point at *t, or Go's "invalid UTF-8" error naming
 * the rest of the expression. */
static int rx_next_rune(rx_parser *rx, const char **t, int32_t *cp) {
    size_t l;
    *cp = -1;
    if (*t >= rx->end) return 0;
    int32_t r = utf8_decode((const unsigned char *)*t, (const unsigned char *)rx->end, &l);
    if (r < 0) return rx_fail(rx, "invalid UTF-8", *t, (size_t)(rx->end - *t));
    *cp = r;
    *t += l;
    return 0;
}

/* Go's checkUTF8: the error names the text from the first bad byte on. */
static int rx_check_utf8(rx_parser *rx, const char *s, const char *e) {
    while (s < e) {
        size_t l;
        if (utf8_decode((const unsigned char *)s, (const unsigned char *)rx->end, &l) < 0)
            return rx_fail(rx, "invalid UTF-8", s, (size_t)(rx->end - s));
        s += l;
    }
    return 0;
}

static int hexval(int32_t c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int is_alnum_ascii(int32_t c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Go's parseEscape: one escaped character (\n, \x41, \x{263a}, \101, \.);
 * *s points at the backslash and moves past the escape. */
static int rx_escape(rx_parser *rx, const char **s, int32_t *out) {
    const char *start = *s, *t = *s + 1;
    if (t >= rx->end) return rx_fail(rx, "trailing backslash at end of expression", "", 0);
    int32_t c;
    if (rx_next_rune(rx, &t, &c)) return -1;
    int32_t r;
    switch (c) {
    case '1': case '2': case '3': case '4': case '5': case '6': case '7':
        /* A lone non-zero digit is a backreference, which Go does not have. */
        if (t >= rx->end || *t < '0' || *t > '7') goto bad;
        /* fall through */
    case '0':
        r = c - '0';
        for (int i = 1; i < 3 && t < rx->end && *t >= '0' && *t <= '7'; i++) r = r * 8 + (*t++ - '0');
        *out = r;
        *s = t;
        return 0;
    case 'x': {
        if (t >= rx->end) goto bad;
        if (rx_next_rune(rx, &t, &c)) return -1;
        if (c == '{') {
            int nhex = 0;
            r = 0;
            for (;;) {
                if (t >= rx->end) goto bad;
                if (rx_next_rune(rx, &t, &c)) return -1;
                if (c == '}') break;
                int v = hexval(c);
                if (v < 0) goto bad;
                r = r * 16 + v;
                if (r > 0x10FFFF) goto bad;
                nhex++;
            }
            if (nhex == 0) goto bad;
            *out = r;
            *s = t;
            return 0;
        }
        int x = hexval(c), y;
        if (rx_next_rune(rx, &t, &c)) return -1;
        y = c < 0 ? -1 : hexval(c);
        if (x < 0 || y < 0) goto bad;
        *out = x * 16 + y;
        *s = t;
        return 0;
    }
    case 'a': *out = '\a'; break;
    case 'f': *out = '\f'; break;
    case 'n': *out = '\n'; break;
    case 'r': *out = '\r'; break;
    case 't': *out = '\t'; break;
    case 'v': *out = '\v'; break;
    default:
        /* Escaped punctuation is itself; Go refuses other escapes (\q, \Z). */
        if (c < 0x80 && !is_alnum_ascii(c)) {
            *out = c;
            break;
        }
        goto bad;
    }
    *s = t;
    return 0;
bad:
    return rx_fail(rx, "invalid escape sequence", start, (size_t)(t - start));
}

/* \d \D \s \S \w \W: Go's Perl classes (ASCII). */
static int rx_perl_class(rx_parser *rx, const char *t) {
    return t + 1 < rx->end && t[0] == '\\' && strchr("dDsSwW", t[1]) != NULL && t[1] != 0;
}

/* Writes a Perl class.  PCRE2 reads \d and \w as Go does, but its \s also
 * matches \v, which Go's (\t \n \f \r and space) does not: \s and \S are
 * spelled out, as a class of their own or, inside brackets, as members. */
static void rx_emit_perl_class(rx_parser *rx, const char *t, int in_class) {
    static const char space[] = "\\x{9}\\x{a}\\x{c}\\x{d}\\x{20}";
    static const char not_space[] = "\\x{0}-\\x{8}\\x{b}\\x{e}-\\x{1f}\\x{21}-\\x{10ffff}";
    if (t[1] == 's') buf_printf(rx->out, in_class ? "%s" : "[%s]", space);
    else if (t[1] == 'S') buf_printf(rx->out, in_class ? "%s" : "[%s]", not_space);
    else buf_append(rx->out, t, 2);
}

/* Go's general categories; scripts are checked against PCRE2's tables. */
static int go_unicode_name_valid(const char *name, size_t n) {
    static const char *const cats[] = {"Any", "C",  "Cc", "Cf", "Co", "Cs", "L",  "Ll", "Lm", "Lo", "Lt", "Lu", "M",
                                       "Mc",  "Me", "Mn", "N",  "Nd", "Nl", "No", "P",  "Pc", "Pd", "Pe", "Pf", "Pi",
                                       "Po",  "Ps", "S",  "Sc", "Sk", "Sm", "So", "Z",  "Zl", "Zp", "Zs"};
    for (size_t i = 0; i < sizeof cats / sizeof *cats; i++)
        if (strlen(cats[i]) == n && memcmp(cats[i], name, n) == 0) return 1;
    /* Go's script names are capitalised words joined by '_' (Old_Italic);
     * PCRE2 matches names loosely, so insist on Go's spelling first. */
    if (n < 2 || n > 64 || name[0] < 'A' || name[0] > 'Z') return 0;
    for (size_t i = 0; i < n; i++)
        if (!is_alnum_ascii(name[i]) && name[i] != '_') return 0;
    char pat[80];
    snprintf(pat, sizeof pat, "\\p{%.*s}", (int)n, name);
    int code;
    PCRE2_SIZE off;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED, PCRE2_UTF, &code, &off, NULL);
    if (!re) return 0;
    pcre2_code_free(re);
    return 1;
}

/* Go's parseUnicodeClass: \pL, \PL, \p{Greek}, \p{^Greek}.  Returns 1 when
 * *t held one (written out, *t moved past it), 0 when it does not start
 * one, -1 on error. */
static int rx_unicode_class(rx_parser *rx, const char **t) {
    const char *s = *t;
    if (s + 1 >= rx->end || s[0] != '\\' || (s[1] != 'p' && s[1] != 'P')) return 0;
    int negate = s[1] == 'P';
    const char *p = s + 2, *name, *seq_end;
    size_t name_len;
    int32_t c;
    if (rx_next_rune(rx, &p, &c)) return -1;
    if (c != '{') {
        seq_end = p;
        name = s + 2;
        name_len = (size_t)(p - name);
    } else {
        const char *close = memchr(s, '}', (size_t)(rx->end - s));
        if (!close) {
            if (rx_check_utf8(rx, s, rx->end)) return -1;
            return rx_fail(rx, "invalid character class range", s, (size_t)(rx->end - s));
        }
        seq_end = close + 1;
        name = s + 3;
        name_len = (size_t)(close - name);
        if (rx_check_utf8(rx, name, close)) return -1;
    }
    const char *nm = name;
    size_t nl = name_len;
    if (nl > 0 && nm[0] == '^') {
        negate = !negate;
        nm++;
        nl--;
    }
    if (!go_unicode_name_valid(nm, nl)) return rx_fail(rx, "invalid character class range", s, (size_t)(seq_end - s));
    buf_printf(rx->out, "\\%c{%.*s}", negate ? 'P' : 'p', (int)nl, nm);
    *t = seq_end;
    return 1;
}

/* Go's POSIX classes inside brackets. */
static int go_posix_class_valid(const char *s, size_t n) {
    static const char *const names[] = {"alnum", "alpha", "ascii", "blank", "cntrl", "digit", "graph",
                                        "lower", "print", "punct", "space", "upper", "word",  "xdigit"};
    /* s is "[:name:]" or "[:^name:]" */
    const char *p = s + 2;
    size_t l = n - 4;
    if (l > 0 && *p == '^') {
        p++;
        l--;
    }
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (strlen(names[i]) == l && memcmp(names[i], p, l) == 0) return 1;
    return 0;
}

/* One character of a class (Go's parseClassChar). */
static int rx_class_char(rx_parser *rx, const char **t, const char *whole_class, int32_t *cp) {
    if (*t >= rx->end) return rx_fail(rx, "missing closing ]", whole_class, (size_t)(rx->end - whole_class));
    if (**t == '\\') return rx_escape(rx, t, cp);
    return rx_next_rune(rx, t, cp);
}

/* Go's parseClass: [...] with ranges, negation, [:posix:], \d and \p{..}.
 * Every plain character is written as \x{..}, so PCRE2's own rules for '-',
 * ']', '[' and escapes inside classes never come into play. */
static int rx_class(rx_parser *rx, const char **s) {
    const char *start = *s, *t = *s + 1;
    buf_append(rx->out, "[", 1);
    if (t < rx->end && *t == '^') {
        buf_append(rx->out, "^", 1);
        t++;
    }
    int first = 1;
    while (t >= rx->end || *t != ']' || first) {
        first = 0;
        if (rx->end - t > 2 && t[0] == '[' && t[1] == ':') {
            const char *close = NULL;
            for (const char *q = t + 2; q + 1 < rx->end; q++)
                if (q[0] == ':' && q[1] == ']') {
                    close = q;
                    break;
                }
            if (close) {
                size_t n = (size_t)(close + 2 - t);
                if (!go_posix_class_valid(t, n)) return rx_fail(rx, "invalid character class range", t, n);
                buf_append(rx->out, t, n);
                t += n;
                continue;
            }
        }
        int u = rx_unicode_class(rx, &t);
        if (u < 0) return -1;
        if (u) continue;
        if (rx_perl_class(rx, t)) {
            rx_emit_perl_class(rx, t, 1);
            t += 2;
            continue;
        }
        const char *rng = t;
        int32_t lo, hi;
        if (rx_class_char(rx, &t, start, &lo)) return -1;
        hi = lo;
        if (rx->end - t >= 2 && t[0] == '-' && t[1] != ']') {
            t++;
            if (rx_class_char(rx, &t, start, &hi)) return -1;
            if (hi < lo) return rx_fail(rx, "invalid character class range", rng, (size_t)(t - rng));
        }
        rx_emit_cp(rx, lo);
        if (hi != lo) {
            buf_append(rx->out, "-", 1);
            rx_emit_cp(rx, hi);
        }
    }
    buf_append(rx->out, "]", 1);
    *s = t + 1;
    rx_atom(rx, 1);
    return 0;
}

/* Go's parseInt for repeat counts: no leading zeros; too big gives -1. */
static int rx_int(const char **s, const char *end, long *n) {
    const char *p = *s;
    if (p >= end || *p < '0' || *p > '9') return 0;
    if (end - p >= 2 && p[0] == '0' && p[1] >= '0' && p[1] <= '9') return 0;
    long v = 0;
    for (; p < end && *p >= '0' && *p <= '9'; p++) {
        if (v >= 100000000) v = -1;
        if (v >= 0) v = v * 10 + (*p - '0');
    }
    *n = v;
    *s = p;
    return 1;
}

/* Go's parseRepeat: {n}, {n,}, {n,m}.  Returns 0 when the text is not a
 * count, which Go then reads as a literal '{'. */
static int rx_braces(const char *s, const char *end, long *min, long *max, const char **after) {
    const char *p = s + 1;
    if (!rx_int(&p, end, min)) return 0;
    if (p >= end) return 0;
    if (*p != ',') {
        *max = *min;
    } else {
        p++;
        if (p >= end) return 0;
        if (*p == '}') {
            *max = -1;
        } else {
            if (!rx_int(&p, end, max)) return 0;
            if (*max < 0) *min = -1;
        }
    }
    if (p >= end || *p != '}') return 0;
    *after = p + 1;
    return 1;
}

/* Go's parsePerlFlags: (?i) (?i-s:...) (?: ...) (?P<name>...).  Refuses
 * lookarounds, (?<name>...) (not in the Go release Alertmanager 0.25 is
 * built with) and anything else Go does not know. */
static int rx_perl_group(rx_parser *rx, const char **s) {
    const char *start = *s, *t = *s;
    if (rx->end - t > 4 && t[2] == 'P' && t[3] == '<') {
        const char *gt = memchr(t, '>', (size_t)(rx->end - t));
        if (!gt) {
            if (rx_check_utf8(rx, t, rx->end)) return -1;
            return rx_fail(rx, "invalid named capture", t, (size_t)(rx->end - t));
        }
        const char *name = t + 4;
        size_t n = (size_t)(gt - name);
        if (rx_check_utf8(rx, name, gt)) return -1;
        int ok = n > 0;
        for (size_t i = 0; i < n && ok; i++) ok = is_alnum_ascii(name[i]) || name[i] == '_';
        if (!ok) return rx_fail(rx, "invalid named capture", t, (size_t)(gt + 1 - t));
        buf_append(rx->out, t, (size_t)(gt + 1 - t));
        rx_push_group(rx);
        *s = gt + 1;
        return 0;
    }
    t += 2;
    int sign = 1, saw = 0;
    while (t < rx->end) {
        int32_t c;
        if (rx_next_rune(rx, &t, &c)) return -1;
        if (c == 'i' || c == 'm' || c == 's' || c == 'U') {
            saw = 1;
        } else if (c == '-') {
            if (sign < 0) break;
            sign = -1;
            saw = 0;
        } else if (c == ':' || c == ')') {
            if (sign < 0 && !saw) break;
            if (c == ':') {
                buf_append(rx->out, start, (size_t)(t - start));
                rx_push_group(rx);
            } else if (t - start > 3) {
                buf_append(rx->out, start, (size_t)(t - start)); /* "(?)" sets nothing: leave it out */
            }
            *s = t;
            return 0;
        } else {
            break;
        }
    }
    return rx_fail(rx, "invalid or unsupported Perl syntax", start, (size_t)(t - start));
}

/* Parses expr as Go's regexp/syntax.Parse (Perl flags) and writes the
 * equivalent PCRE2 pattern to out.  Returns 0, or -1 with Go's message. */
static int go_regex_translate(const char *expr, size_t len, buf *out, errbuf *err) {
    rx_parser rx = {.whole = expr, .end = expr + len, .out = out, .err = err, .cap = 8};
    rx.fr = xmalloc(rx.cap * sizeof *rx.fr);
    rx_push_group(&rx);
    const char *s = expr, *last_repeat = NULL;
    int rc = -1;
    while (s < rx.end) {
        const char *repeat = NULL;
        char c = *s;
        if (c == '(') {
            if (rx.end - s >= 2 && s[1] == '?') {
                if (rx_perl_group(&rx, &s)) goto done;
            } else {
                buf_append(out, "(", 1);
                rx_push_group(&rx);
                s++;
            }
        } else if (c == '|') {
            rx_top(&rx)->has_last = 0;
            buf_append(out, "|", 1);
            s++;
        } else if (c == ')') {
            if (rx.depth < 2) {
                rx_fail(&rx, "unexpected )", expr, len);
                goto done;
            }
            unsigned long w = rx_top(&rx)->max_w;
            rx.depth--;
            buf_append(out, ")", 1);
            rx_atom(&rx, w);
            s++;
        } else if (c == '^' || c == '$' || c == '.') {
            rx_emit_repeatable(&rx, s, 1);
            s++;
        } else if (c == '[') {
            if (rx_class(&rx, &s)) goto done;
        } else if (c == '*' || c == '+' || c == '?') {
            const char *before = s++;
            if (s < rx.end && *s == '?') s++;
            if (last_repeat) {
                rx_fail(&rx, "invalid nested repetition operator", last_repeat, (size_t)(s - last_repeat));
                goto done;
            }
            if (!rx_top(&rx)->has_last) {
                rx_fail(&rx, "missing argument to repetition operator", before, (size_t)(s - before));
                goto done;
            }
            buf_append(out, before, (size_t)(s - before));
            repeat = before;
        } else if (c == '{') {
            long min, max;
            const char *after;
            if (!rx_braces(s, rx.end, &min, &max, &after)) {
                buf_append(out, "\\{", 2);
                rx_atom(&rx, 1);
                s++;
            } else {
                if (min < 0 || min > GO_MAX_REPEAT || max > GO_MAX_REPEAT || (max >= 0 && min > max)) {
                    rx_fail(&rx, "invalid repeat count", s, (size_t)(after - s));
                    goto done;
                }
                const char *before = s;
                s = after;
                if (s < rx.end && *s == '?') s++;
                if (last_repeat) {
                    rx_fail(&rx, "invalid nested repetition operator", last_repeat, (size_t)(s - last_repeat));
                    goto done;
                }
                rx_frame *f = rx_top(&rx);
                if (!f->has_last) {
                    rx_fail(&rx, "missing argument to repetition operator", before, (size_t)(s - before));
                    goto done;
                }
                long m = max >= 0 ? max : min;
                unsigned long w = m == 0 ? 1 : (unsigned long)m * f->last_w;
                if ((min >= 2 || max >= 2) && m != 0 && w > GO_MAX_REPEAT) {
                    rx_fail(&rx, "invalid repeat count", before, (size_t)(s - before));
                    goto done;
                }
                f->last_w = w;
                if (w > f->max_w) f->max_w = w;
                buf_append(out, before, (size_t)(s - before));
                repeat = before;
            }
        } else if (c == '\\') {
            char e = rx.end - s >= 2 ? s[1] : 0;
            if (e == 'A' || e == 'b' || e == 'B' || e == 'z') {
                rx_emit_repeatable(&rx, s, 2);
                s += 2;
            } else if (e == 'C') {
                rx_fail(&rx, "invalid escape sequence", s, 2);
                goto done;
            } else if (e == 'Q') {
                const char *lit = s + 2, *q = lit, *lend = rx.end;
                for (; q + 1 < rx.end; q++)
                    if (q[0] == '\\' && q[1] == 'E') {
                        lend = q;
                        break;
                    }
                s = lend == rx.end ? rx.end : lend + 2;
                while (lit < lend) {
                    int32_t cp;
                    size_t l;
                    cp = utf8_decode((const unsigned char *)lit, (const unsigned char *)lend, &l);
                    if (cp < 0) {
                        rx_fail(&rx, "invalid UTF-8", lit, (size_t)(lend - lit));
                        goto done;
                    }
                    rx_emit_cp(&rx, cp);
                    rx_atom(&rx, 1);
                    lit += l;
                }
            } else {
                int u = rx_unicode_class(&rx, &s);
                if (u < 0) goto done;
                if (u) {
                    rx_atom(&rx, 1);
                } else if (rx_perl_class(&rx, s)) {
                    rx_emit_perl_class(&rx, s, 0);
                    rx_atom(&rx, 1);
                    s += 2;
                } else {
                    int32_t cp;
                    if (rx_escape(&rx, &s, &cp)) goto done;
                    rx_emit_cp(&rx, cp);
                    rx_atom(&rx, 1);
                }
            }
        } else {
            const char *p = s;
            int32_t cp;
            if (rx_next_rune(&rx, &p, &cp)) goto done;
            if (c == ']' || c == '}') buf_append(out, "\\", 1);
            buf_append(out, s, (size_t)(p - s));
            rx_atom(&rx, 1);
            s = p;
        }
        last_repeat = repeat;
    }
    if (rx.depth != 1) {
        rx_fail(&rx, "missing closing )", expr, len);
        goto done;
    }
    rc = 0;
done:
    free(rx.fr);
    return rc;
}

/* Checks expr with Go's grammar and compiles its PCRE2 form.  Returns the
 * pcre2_code, or NULL with err set. */
static pcre2_code *regex_compile(const char *expr, size_t len, errbuf *err) {
    buf pat = {0};
    if (go_regex_translate(expr, len, &pat, err)) {
        buf_free(&pat);
        return NULL;
    }
    pcre2_compile_context *cc = pcre2_compile_context_create(NULL);
    if (!cc) {
        buf_free(&pat);
        errf(err, "error parsing regexp: out of memory: `%.*s`", (int)len, expr);
        return NULL;
    }
    pcre2_set_newline(cc, PCRE2_NEWLINE_LF);
    pcre2_set_parens_nest_limit(cc, 1000);
    uint32_t opts = PCRE2_UTF | PCRE2_DOLLAR_ENDONLY | PCRE2_DUPNAMES;
#ifdef PCRE2_MATCH_INVALID_UTF
    opts |= PCRE2_MATCH_INVALID_UTF;
#endif
    int code;
    PCRE2_SIZE off;
    pcre2_code *re = pcre2_compile(pat.len ? pat.data : (PCRE2_SPTR) "", pat.len, opts, &code, &off, cc);
    pcre2_compile_context_free(cc);
    buf_free(&pat);
    if (!re) {
        /* Go accepted it but PCRE2 did not (a limit, in practice). */
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(code, msg, sizeof msg);
        errf(err, "error parsing regexp: %s: `%.*s`", (char *)msg, (int)len, expr);
        return NULL;
    }
    pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* the interpreter serves when JIT is unavailable */
    return re;
}

int am_regex_check(const char *re, size_t len, errbuf *err) {
    pcre2_code *c = regex_compile(re, len, err);
    if (!c) return -1;
    pcre2_code_free(c);
    return 0;
}

/* ------------------------------------------------------------ matchers */

const char *am_match_type_op(am_match_type t) {
    switch (t) {
    case AM_MATCH_EQ: return "=";
    case AM_MATCH_NE: return "!=";
    case AM_MATCH_RE: return "=~";
    case AM_MATCH_NRE: return "!~";
    }
    return "?";
}

/* Appends a matcher from counted strings (values may come from a buffer). */
static int matcher_add_n(am_matchers *m, am_match_type t, const char *name, size_t name_len, const char *value,
                         size_t value_len, errbuf *err) {
    void *re = NULL;
    if (t == AM_MATCH_RE || t == AM_MATCH_NRE) {
        buf anchored = {0};
        buf_append(&anchored, "^(?:", 4);
        buf_append(&anchored, value, value_len);
        buf_append(&anchored, ")$", 2);
        re = regex_compile((const char *)anchored.data, anchored.len, err);
        buf_free(&anchored);
        if (!re) return -1;
    }
    if (m->n == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 4;
        m->v = xrealloc(m->v, m->cap * sizeof *m->v);
    }
    am_matcher *x = &m->v[m->n++];
    x->type = t;
    x->name = xstrndup(name, name_len);
    x->name_len = name_len;
    x->value = xstrndup(value, value_len);
    x->value_len = value_len;
    x->re = re;
    return 0;
}

int am_matcher_add(am_matchers *m, am_match_type t, const char *name, const char *value, errbuf *err) {
    return matcher_add_n(m, t, name, strlen(name), value, strlen(value), err);
}

static void matcher_clear(am_matcher *x) {
    free(x->name);
    free(x->value);
    if (x->re) pcre2_code_free(x->re);
}

/* Drops matchers appended after the first n (a failed parse). */
static void matchers_truncate(am_matchers *m, size_t n) {
    while (m->n > n) matcher_clear(&m->v[--m->n]);
}

void am_matchers_free(am_matchers *m) {
    matchers_truncate(m, 0);
    free(m->v);
    m->v = NULL;
    m->n = m->cap = 0;
}

/* Go's \s in the matcher grammar: [\t\n\f\r ]. */
static int re_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r'; }

static int name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':'; }
static int name_char(char c) { return name_start(c) || (c >= '0' && c <= '9'); }

/* ParseMatcher of s[0..n): see am_matcher_parse. */
static int parse_one(am_matchers *m, const char *s, size_t n, errbuf *err) {
    const char *p = s, *e = s + n;
    while (p < e && re_space(*p)) p++;
    const char *name = p;
    if (p == e || !name_start(*p)) goto bad;
    while (p < e && name_char(*p)) p++;
    size_t name_len = (size_t)(p - name);
    while (p < e && re_space(*p)) p++;
    am_match_type t;
    if (e - p >= 2 && p[0] == '=' && p[1] == '~') {
        t = AM_MATCH_RE;
        p += 2;
    } else if (p < e && *p == '=') {
        t = AM_MATCH_EQ;
        p++;
    } else if (e - p >= 2 && p[0] == '!' && p[1] == '=') {
        t = AM_MATCH_NE;
        p += 2;
    } else if (e - p >= 2 && p[0] == '!' && p[1] == '~') {
        t = AM_MATCH_NRE;
        p += 2;
    } else {
        goto bad;
    }
    while (p < e && re_space(*p)) p++;
    const char *raw = p, *raw_end = e;
    while (raw_end > raw && re_space(raw_end[-1])) raw_end--;
    int raw_len = (int)(raw_end - raw);

    const char *rv = raw;
    size_t rn = (size_t)(raw_end - raw);
    int expect_quote = 0;
    if (rn > 0 && rv[0] == '"') {
        rv++;
        rn--;
        expect_quote = 1;
    }
    if (!utf8_valid_n(rv, rn)) return errf(err, "matcher value not valid UTF-8: %.*s", raw_len, raw);
    buf value = {0};
    int escaped = 0;
    for (size_t i = 0; i < rn;) {
        size_t l;
        int32_t r = utf8_decode((const unsigned char *)rv + i, (const unsigned char *)rv + rn, &l);
        if (escaped) {
            escaped = 0;
            if (r == 'n') {
                buf_append(&value, "\n", 1);
            } else if (r == '"' || r == '\\') {
                buf_append(&value, rv + i, 1);
            } else {
                /* A spurious escape: the backslash is literal. */
                buf_append(&value, "\\", 1);
                buf_append(&value, rv + i, l);
            }
        } else if (r == '\\') {
            if (i < rn - 1) escaped = 1;
            else buf_append(&value, "\\", 1);
        } else if (r == '"') {
            if (!expect_quote || i < rn - 1) {
                buf_free(&value);
                return errf(err, "matcher value contains unescaped double quote: %.*s", raw_len, raw);
            }
            expect_quote = 0;
        } else {
            buf_append(&value, rv + i, l);
        }
        i += l;
    }
    if (expect_quote) {
        buf_free(&value);
        return errf(err, "matcher value contains unescaped double quote: %.*s", raw_len, raw);
    }
    int rc = matcher_add_n(m, t, name, name_len, value.len ? (const char *)value.data : "", value.len, err);
    buf_free(&value);
    return rc;
bad:
    return errf(err, "bad matcher format: %.*s", (int)n, s);
}

int am_matcher_parse(am_matchers *m, const char *text, errbuf *err) { return parse_one(m, text, strlen(text), err); }

/* strings.TrimSpace on a token (Unicode spaces, by code point). */
static void trim_go_space(const char **s, size_t *n) {
    if (*n == 0) return;
    const unsigned char *p = (const unsigned char *)*s, *e = p + *n;
    while (p < e) {
        size_t l;
        int32_t r = utf8_decode(p, e, &l);
        if (r < 0 || !go_unicode_space(r)) break;
        p += l;
    }
    while (e > p) {
        /* step back to the start of the last sequence */
        const unsigned char *q = e - 1;
        while (q > p && (*q & 0xC0) == 0x80 && e - q < 4) q--;
        size_t l;
        int32_t r = utf8_decode(q, e, &l);
        if (r < 0 || q + l != e || !go_unicode_space(r)) break;
        e = q;
    }
    *s = (const char *)p;
    *n = (size_t)(e - p);
}

/* ParseMatchers: trim one '{' and one '}', cut, then ParseMatcher each
 * piece; the first failure undoes what the call appended. */
int am_matchers_parse(am_matchers *m, const char *text, errbuf *err) {
    size_t n = strlen(text);
    const char *s = text;
    if (n > 0 && s[0] == '{') {
        s++;
        n--;
    }
    if (n > 0 && s[n - 1] == '}') n--;

    /* Cut into tokens at commas outside quotes, as Go's loop over runes
     * does (invalid bytes become U+FFFD). */
    buf tok = {0};
    size_t *starts = NULL, *lens = NULL, ntok = 0, captok = 0;
    buf all = {0}; /* every token's bytes, back to back */
    int inside = 0, escaped = 0;
    const unsigned char *p = (const unsigned char *)s, *e = p + n;
    while (p < e) {
        size_t l;
        int32_t r = utf8_decode(p, e, &l);
        int split = 0;
        if (r == ',') {
            if (!inside) split = 1;
        } else if (r == '"') {
            if (!escaped) inside = !inside;
            else escaped = 0;
        } else if (r == '\\') {
            escaped = !escaped;
        } else {
            escaped = 0;
        }
        if (split) {
            if (ntok == captok) {
                captok = captok ? captok * 2 : 8;
                starts = xrealloc(starts, captok * sizeof *starts);
                lens = xrealloc(lens, captok * sizeof *lens);
            }
            starts[ntok] = all.len;
            lens[ntok++] = tok.len;
            buf_append(&all, tok.data, tok.len);
            buf_reset(&tok);
        } else if (r < 0) {
            utf8_put(&tok, 0xFFFD);
        } else {
            buf_append(&tok, p, l);
        }
        p += l;
    }
    const char *last = (const char *)tok.data;
    size_t last_len = tok.len;
    trim_go_space(&last, &last_len);

    size_t before = m->n;
    int rc = 0;
    for (size_t i = 0; i < ntok && rc == 0; i++)
        rc = parse_one(m, lens[i] ? (const char *)all.data + starts[i] : "", lens[i], err);
    if (rc == 0 && last_len > 0) rc = parse_one(m, last, last_len, err);
    if (rc) matchers_truncate(m, before);
    buf_free(&tok);
    buf_free(&all);
    free(starts);
    free(lens);
    return rc;
}

/* Runs a compiled pattern; *md is created on first use and reused by the
 * caller for the rest of one call.  A PCRE2 failure other than "no match"
 * (a resource limit) counts as no match. */
static int regex_matches(const am_matcher *m, const char *value, size_t len, pcre2_match_data **md) {
    if (!*md) *md = pcre2_match_data_create(1, NULL);
    if (!*md) return 0;
    int rc = pcre2_match(m->re, (PCRE2_SPTR)(value ? value : ""), len, 0, 0, *md, NULL);
    return rc >= 0;
}

/* One matcher against one value, with the caller's match data. */
static int matcher_matches_md(const am_matcher *m, const char *value, size_t len, pcre2_match_data **md) {
    switch (m->type) {
    case AM_MATCH_EQ: return len == m->value_len && (len == 0 || memcmp(value, m->value, len) == 0);
    case AM_MATCH_NE: return !(len == m->value_len && (len == 0 || memcmp(value, m->value, len) == 0));
    case AM_MATCH_RE: return regex_matches(m, value, len, md);
    case AM_MATCH_NRE: return !regex_matches(m, value, len, md);
    }
    return 0;
}

int am_matcher_matches(const am_matcher *m, const char *value, size_t len) {
    pcre2_match_data *md = NULL;
    int r = matcher_matches_md(m, value, len, &md);
    if (md) pcre2_match_data_free(md);
    return r;
}

int am_matchers_match(const am_matchers *m, const label *ls, size_t n) {
    am_match_scratch scratch = {0};
    int ok = am_matchers_match_with(m, ls, n, &scratch);
    am_match_scratch_free(&scratch);
    return ok;
}

void am_match_scratch_free(am_match_scratch *scratch) {
    if (scratch->md_) pcre2_match_data_free(scratch->md_);
    scratch->md_ = NULL;
}

/* Looks each matcher's label up (linearly: label sets are short and may
 * come unsorted) and stops at the first matcher that fails. */
int am_matchers_match_with(const am_matchers *m, const label *ls, size_t n, am_match_scratch *scratch) {
    pcre2_match_data *md = scratch->md_;
    int ok = 1;
    for (size_t i = 0; i < m->n && ok; i++) {
        const am_matcher *x = &m->v[i];
        const char *v = "";
        size_t vl = 0;
        for (size_t j = 0; j < n; j++)
            if (ls[j].name_len == x->name_len && memcmp(ls[j].name, x->name, x->name_len) == 0) {
                v = ls[j].value;
                vl = ls[j].value_len;
                break;
            }
        ok = matcher_matches_md(x, v, vl, &md);
    }
    scratch->md_ = md;
    return ok;
}

/* openMetricsEscape: only \\, newline and the double quote. */
void am_matcher_format(const am_matcher *m, buf *out) {
    buf_append(out, m->name, m->name_len);
    buf_printf(out, "%s\"", am_match_type_op(m->type));
    for (size_t i = 0; i < m->value_len; i++) {
        char c = m->value[i];
        if (c == '\\') buf_append(out, "\\\\", 2);
        else if (c == '\n') buf_append(out, "\\n", 2);
        else if (c == '"') buf_append(out, "\\\"", 2);
        else buf_append(out, &c, 1);
    }
    buf_append(out, "\"", 1);
}

void am_matchers_format(const am_matchers *m, buf *out) {
    buf_append(out, "{", 1);
    for (size_t i = 0; i < m->n; i++) {
        if (i) buf_append(out, ",", 1);
        am_matcher_format(&m->v[i], out);
    }
    buf_append(out, "}", 1);
}
