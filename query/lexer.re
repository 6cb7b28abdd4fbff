/*
 * lexer.re - the PromQL lexer (re2c), feeding tokens to the bison parser
 * (parser.y).  API: parser.h.
 *
 * DESIGN
 *
 * Prometheus's lexer (promql/parser/lex.go of 2.42) is a small state
 * machine, and its error messages and positions are part of what promlite
 * reproduces, so this lexer keeps the same states and flags:
 *   - statements: operators, identifiers and keywords, numbers, durations,
 *     strings, brackets;
 *   - inside braces ({...}): only label names, matching operators, strings
 *     and commas; keywords are plain identifiers there;
 *   - just after '[': a duration must follow ("missing unit character in
 *     duration" otherwise); inside an open bracket a ':' (and, as in
 *     Prometheus 2.42, any letter) is the subquery colon.
 * plus the nesting counters that give "unclosed left parenthesis",
 * "unclosed left bracket" and friends at the end of input.
 *
 * re2c recognises the fixed-form tokens of each state (operators,
 * punctuation, identifiers, keywords, which are case-insensitive).  Numbers,
 * durations and string bodies are scanned by hand with Prometheus's exact
 * algorithms (scanNumber, acceptRemainingDuration, lexString, lexEscape),
 * because their quirks decide where a token ends and what an error says:
 * "1.2.3" is the number "1.2" followed by ".3", "5mfoo" is a bad duration
 * "5mf", "\u12" is an illegal character '"' in an escape sequence.  These
 * work on runes (UTF-8 decoded, an invalid byte being U+FFFD of width 1)
 * just as Go's lexer does, so messages quote the same characters.
 *
 * Input is a (pointer, length) pair and need not be NUL-terminated; re2c's
 * custom API peeks through a bounds check, so nothing past the end is read.
 * A NUL byte inside the query is an ordinary (unexpected) character.
 *
 * Errors: a lexer error is recorded (pq_error_at, at the start of the
 * token, as Prometheus reports lexer errors) and the lexer then returns end
 * of input (0) forever, like Prometheus's Lex() returning 0 after ERROR.
 */
#include <stdio.h>
#include <string.h>

#include "query/parser_tokens.h"

#define TOK_SKIP (-1)   /* whitespace or comment: scan again */
#define TOK_FAIL (-2)   /* an error was recorded */
#define RUNE_EOF (-1)
#define RUNE_ERROR 0xFFFD

/* ---------------------------------------------------------------- runes */

/* Go's utf8.DecodeRuneInString at p: sets *w to the width (0 at the end). */
static int32_t rune_at(const pq_pstate *ps, uint32_t p, uint32_t *w) {
    if (p >= ps->len) {
        *w = 0;
        return RUNE_EOF;
    }
    const unsigned char *s = (const unsigned char *)ps->text + p;
    uint32_t n = ps->len - p;
    if (s[0] < 0x80) {
        *w = 1;
        return s[0];
    }
    uint32_t len, c, min;
    if ((s[0] & 0xE0) == 0xC0) { len = 2; c = s[0] & 0x1F; min = 0x80; }
    else if ((s[0] & 0xF0) == 0xE0) { len = 3; c = s[0] & 0x0F; min = 0x800; }
    else if ((s[0] & 0xF8) == 0xF0) { len = 4; c = s[0] & 0x07; min = 0x10000; }
    else { *w = 1; return RUNE_ERROR; }
    if (len > n) { *w = 1; return RUNE_ERROR; }
    for (uint32_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) { *w = 1; return RUNE_ERROR; }
        c = c << 6 | (s[i] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c < 0xE000)) { *w = 1; return RUNE_ERROR; }
    *w = len;
    return (int32_t)c;
}

/* The Go lexer's next/peek/backup over ps->pos. */
typedef struct { pq_pstate *ps; uint32_t width; } runes;

static int32_t next(runes *r) {
    int32_t c = rune_at(r->ps, r->ps->pos, &r->width);
    r->ps->pos += r->width;
    return c;
}
static void backup(runes *r) { r->ps->pos -= r->width; }
static int32_t peek(runes *r) {
    uint32_t w;
    return rune_at(r->ps, r->ps->pos, &w);
}
static int accept(runes *r, const char *valid) {
    int32_t c = next(r);
    if (c > 0 && c < 0x80 && strchr(valid, (int)c)) return 1;
    backup(r);
    return 0;
}
static void accept_run(runes *r, const char *valid) {
    while (accept(r, valid)) {
    }
}

static int is_alpha(int32_t c) { return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static int is_digit(int32_t c) { return c >= '0' && c <= '9'; }
static int is_alnum(int32_t c) { return is_alpha(c) || is_digit(c); }
static int is_space(int32_t c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* Go's strconv.IsPrint, closely enough for messages. */
static int rune_printable(int32_t c) {
    if (c < 0) return 0;
    if (c < 0x80) return c >= 0x20 && c < 0x7F;
    return c >= 0xA0 && c != 0xAD && c != 0xFEFF;
}

/* Go's %q of a rune: 'x', '\n', '\x00', '\u0080', and '\'' for a quote. */
static void quote_rune(int32_t c, char *out, size_t n) {
    if (c == RUNE_EOF) c = RUNE_ERROR;
    switch (c) {
    case '\'': snprintf(out, n, "'\\''"); return;
    case '\\': snprintf(out, n, "'\\\\'"); return;
    case '\a': snprintf(out, n, "'\\a'"); return;
    case '\b': snprintf(out, n, "'\\b'"); return;
    case '\f': snprintf(out, n, "'\\f'"); return;
    case '\n': snprintf(out, n, "'\\n'"); return;
    case '\r': snprintf(out, n, "'\\r'"); return;
    case '\t': snprintf(out, n, "'\\t'"); return;
    case '\v': snprintf(out, n, "'\\v'"); return;
    }
    if (rune_printable(c)) {
        char u[5] = {0};
        uint32_t v = (uint32_t)c;
        if (v < 0x80) u[0] = (char)v;
        else if (v < 0x800) { u[0] = (char)(0xC0 | v >> 6); u[1] = (char)(0x80 | (v & 0x3F)); }
        else if (v < 0x10000) {
            u[0] = (char)(0xE0 | v >> 12); u[1] = (char)(0x80 | ((v >> 6) & 0x3F)); u[2] = (char)(0x80 | (v & 0x3F));
        } else {
            u[0] = (char)(0xF0 | v >> 18); u[1] = (char)(0x80 | ((v >> 12) & 0x3F));
            u[2] = (char)(0x80 | ((v >> 6) & 0x3F)); u[3] = (char)(0x80 | (v & 0x3F));
        }
        snprintf(out, n, "'%s'", u);
    } else if (c < 0x80) {
        snprintf(out, n, "'\\x%02x'", (unsigned)c);
    } else if (c < 0x10000) {
        snprintf(out, n, "'\\u%04x'", (unsigned)c);
    } else {
        snprintf(out, n, "'\\U%08x'", (unsigned)c);
    }
}

/* Go's %#U: "U+0071 'q'", or "U+0000" for an unprintable rune. */
static void unicode_rune(int32_t c, char *out, size_t n) {
    char q[16];
    if (rune_printable(c) && c != '\'' && c != '\\') {
        quote_rune(c, q, sizeof q);
        snprintf(out, n, "U+%04X %s", (unsigned)c, q);
    } else if (c == '\'' || c == '\\') {
        snprintf(out, n, "U+%04X '%c'", (unsigned)c, (char)c);
    } else {
        snprintf(out, n, "U+%04X", (unsigned)c);
    }
}

/* Records a lexer error at the start of the current token. */
#define LEX_ERROR(...) (pq_error_at(ps, ps->start, __VA_ARGS__), TOK_FAIL)

/* ---------------------------------------------------------------- numbers */

/* Prometheus 2.42's scanNumber(): [0[xX]]digits[.digits][(e|E)[+-]digits];
 * true when what follows is not alphanumeric.  The scanned text need not be
 * a valid number (the parser reports that). */
static int scan_number(runes *r) {
    const char *digits = "0123456789";
    if (accept(r, "0") && accept(r, "xX")) digits = "0123456789abcdefABCDEF";
    accept_run(r, digits);
    if (accept(r, ".")) accept_run(r, digits);
    if (accept(r, "eE")) {
        accept(r, "+-");
        accept_run(r, "0123456789");
    }
    return !is_alnum(peek(r));
}

/* acceptRemainingDuration(): a unit, then more number-unit pairs, then a
 * rune that is not alphanumeric (consumed: the caller backs up). */
static int accept_remaining_duration(runes *r) {
    if (!accept(r, "smhdwy")) return 0;
    accept(r, "s");
    while (accept(r, "0123456789")) {
        accept_run(r, "0123456789");
        if (!accept(r, "smhdw")) return 0;
        accept(r, "s");
    }
    return !is_alnum(next(r));
}

/* lexNumberOrDuration(). */
static int lex_number_or_duration(pq_pstate *ps) {
    runes r = {ps, 0};
    if (scan_number(&r)) return NUMBER;
    if (accept_remaining_duration(&r)) {
        backup(&r);
        return DURATION;
    }
    return LEX_ERROR("bad number or duration syntax: \"%.*s\"", (int)(ps->pos - ps->start), ps->text + ps->start);
}

/* lexDuration(), the state right after '['. */
static int lex_duration(pq_pstate *ps) {
    runes r = {ps, 0};
    if (scan_number(&r)) return LEX_ERROR("missing unit character in duration");
    if (!accept_remaining_duration(&r))
        return LEX_ERROR("bad duration syntax: \"%.*s\"", (int)(ps->pos - ps->start), ps->text + ps->start);
    backup(&r);
    return DURATION;
}

/* ---------------------------------------------------------------- strings */

static int digit_val(int32_t c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return 16;
}

/* lexEscape(): validates one escape sequence after the backslash. */
static int lex_escape(pq_pstate *ps, runes *r, int32_t quote) {
    int n;
    uint32_t base, max;
    char u[32];
    int32_t c = next(r);
    switch (c) {
    case 'a': case 'b': case 'f': case 'n': case 'r': case 't': case 'v': case '\\': return 0;
    case '0': case '1': case '2': case '3': case '4': case '5': case '6': case '7':
        n = 3, base = 8, max = 255;
        break;
    case 'x': c = next(r); n = 2, base = 16, max = 255; break;
    case 'u': c = next(r); n = 4, base = 16, max = 0x10FFFF; break;
    case 'U': c = next(r); n = 8, base = 16, max = 0x10FFFF; break;
    case RUNE_EOF: return LEX_ERROR("escape sequence not terminated");
    default:
        if (c == quote) return 0;
        unicode_rune(c, u, sizeof u);
        return LEX_ERROR("unknown escape sequence %s", u);
    }
    uint32_t x = 0;
    while (n > 0) {
        uint32_t d = (uint32_t)digit_val(c);
        if (d >= base) {
            if (c == RUNE_EOF) return LEX_ERROR("escape sequence not terminated");
            unicode_rune(c, u, sizeof u);
            return LEX_ERROR("illegal character %s in escape sequence", u);
        }
        x = x * base + d;
        n--;
        if (n > 0) c = next(r);
    }
    if (x > max || (x >= 0xD800 && x < 0xE000)) return LEX_ERROR("escape sequence is an invalid Unicode code point");
    return 0;
}

/* lexString() / lexRawString(): the opening quote has been consumed. */
static int lex_string(pq_pstate *ps, int32_t quote) {
    runes r = {ps, 0};
    for (;;) {
        int32_t c = next(&r);
        if (quote != '`' && c == '\\') {
            if (lex_escape(ps, &r, quote) != 0) return TOK_FAIL;
            continue;
        }
        if (c == RUNE_ERROR) return LEX_ERROR("invalid UTF-8 rune");
        if (c == RUNE_EOF || (quote != '`' && c == '\n'))
            return quote == '`' ? LEX_ERROR("unterminated raw string") : LEX_ERROR("unterminated quoted string");
        if (c == quote) return STRING;
    }
}

/* ---------------------------------------------------------------- words */

/* The keyword a word spells (case-insensitive), or 0. */
static int keyword(const char *s, size_t n) {
    const unsigned char *cur = (const unsigned char *)s, *lim = cur + n, *mar;
    (void)mar;
    /*!re2c
        re2c:api = custom;
        re2c:api:style = free-form;
        re2c:define:YYCTYPE = "unsigned char";
        re2c:define:YYPEEK = "(cur < lim ? *cur : 0u)";
        re2c:define:YYSKIP = "++cur;";
        re2c:define:YYBACKUP = "mar = cur;";
        re2c:define:YYRESTORE = "cur = mar;";
        re2c:yyfill:enable = 0;
        re2c:indent:string = "    ";

        end = [\x00];
        'and' end          { return LAND; }
        'or' end           { return LOR; }
        'unless' end       { return LUNLESS; }
        'atan2' end        { return ATAN2; }
        'sum' end          { return SUM; }
        'avg' end          { return AVG; }
        'count' end        { return COUNT; }
        'min' end          { return MIN; }
        'max' end          { return MAX; }
        'group' end        { return GROUP; }
        'stddev' end       { return STDDEV; }
        'stdvar' end       { return STDVAR; }
        'topk' end         { return TOPK; }
        'bottomk' end      { return BOTTOMK; }
        'count_values' end { return COUNT_VALUES; }
        'quantile' end     { return QUANTILE; }
        'offset' end       { return OFFSET; }
        'by' end           { return BY; }
        'without' end      { return WITHOUT; }
        'on' end           { return ON; }
        'ignoring' end     { return IGNORING; }
        'group_left' end   { return GROUP_LEFT; }
        'group_right' end  { return GROUP_RIGHT; }
        'bool' end         { return BOOL; }
        'start' end        { return START; }
        'end' end          { return END; }
        'inf' end          { return NUMBER; }
        'nan' end          { return NUMBER; }
        *                  { return 0; }
    */
}

/* lexKeywordOrIdentifier(): [a-zA-Z_:][a-zA-Z0-9_:]*, a keyword, an
 * identifier, or (with a colon) a metric identifier. */
static int lex_word(pq_pstate *ps) {
    uint32_t p = ps->pos;
    int colon = 0;
    while (p < ps->len) {
        char c = ps->text[p];
        if (!(is_alnum((unsigned char)c) || c == ':')) break;
        if (c == ':') colon = 1;
        p++;
    }
    ps->pos = p;
    int kw = keyword(ps->text + ps->start, p - ps->start);
    if (kw) return kw;
    return colon ? METRIC_IDENTIFIER : IDENTIFIER;
}

/* ---------------------------------------------------------------- states */

/* One token of the statements state (lexStatements). */
static int lex_statement(pq_pstate *ps) {
    const unsigned char *base = (const unsigned char *)ps->text;
    const unsigned char *cur = base + ps->pos, *lim = base + ps->len, *mar;
    char q[16];
    (void)mar;
    if (ps->pos >= ps->len) {
        if (ps->paren_depth != 0) return LEX_ERROR("unclosed left parenthesis");
        if (ps->bracket_open) return LEX_ERROR("unclosed left bracket");
        return T_EOF;
    }
#define ADVANCE() (ps->pos = (uint32_t)(cur - base))
    /*!re2c
        "#"             { while (cur < lim && *cur != '\n' && *cur != '\r') cur++;
                          ADVANCE(); return TOK_SKIP; }
        [ \t\r\n]+      { ADVANCE(); return TOK_SKIP; }
        ","             { ADVANCE(); return COMMA; }
        "*"             { ADVANCE(); return MUL; }
        "/"             { ADVANCE(); return DIV; }
        "%"             { ADVANCE(); return MOD; }
        "+"             { ADVANCE(); return ADD; }
        "-"             { ADVANCE(); return SUB; }
        "^"             { ADVANCE(); return POW; }
        "=="            { ADVANCE(); return EQLC; }
        "=~"            { return LEX_ERROR("unexpected character after '=': '~'"); }
        "="             { ADVANCE(); return EQL; }
        "!="            { ADVANCE(); return NEQ; }
        "!"             { runes r = {ps, 0};
                          ADVANCE();
                          quote_rune(next(&r), q, sizeof q);
                          return LEX_ERROR("unexpected character after '!': %s", q); }
        "<="            { ADVANCE(); return LTE; }
        "<"             { ADVANCE(); return LSS; }
        ">="            { ADVANCE(); return GTE; }
        ">"             { ADVANCE(); return GTR; }
        [0-9] | "." [0-9] { return lex_number_or_duration(ps); }
        ["']            { ADVANCE(); return lex_string(ps, cur[-1]); }
        "`"             { ADVANCE(); return lex_string(ps, '`'); }
        [a-zA-Z_:]      {
                          if (!ps->bracket_open) return lex_word(ps);
                          /* Prometheus 2.42: inside brackets a letter or
                           * ':' is the subquery colon. */
                          if (ps->got_colon) {
                              quote_rune(cur[-1], q, sizeof q);
                              ps->start = ps->pos;
                              return LEX_ERROR("unexpected colon %s", q);
                          }
                          ADVANCE();
                          ps->got_colon = 1;
                          return COLON;
                        }
        "("             { ADVANCE(); ps->paren_depth++; return LEFT_PAREN; }
        ")"             { ADVANCE();
                          if (--ps->paren_depth < 0) {
                              ps->start = ps->pos;
                              return LEX_ERROR("unexpected right parenthesis ')'");
                          }
                          return RIGHT_PAREN; }
        "{"             { ADVANCE(); ps->brace_open = 1; return LEFT_BRACE; }
        "["             { if (ps->bracket_open) return LEX_ERROR("unexpected left bracket '['");
                          ADVANCE();
                          ps->got_colon = 0;
                          ps->bracket_open = 1;
                          ps->want_duration = 1;
                          return LEFT_BRACKET; }
        "]"             { if (!ps->bracket_open) return LEX_ERROR("unexpected right bracket ']'");
                          ADVANCE();
                          ps->bracket_open = 0;
                          return RIGHT_BRACKET; }
        "@"             { ADVANCE(); return AT; }
        *               { runes r = {ps, 0};
                          quote_rune(next(&r), q, sizeof q);
                          return LEX_ERROR("unexpected character: %s", q); }
    */
}

/* One token inside braces (lexInsideBraces). */
static int lex_braces(pq_pstate *ps) {
    const unsigned char *base = (const unsigned char *)ps->text;
    const unsigned char *cur = base + ps->pos, *lim = base + ps->len, *mar;
    char q[16];
    (void)mar;
    if (ps->pos >= ps->len) return LEX_ERROR("unexpected end of input inside braces");
    /*!re2c
        "#"             { while (cur < lim && *cur != '\n' && *cur != '\r') cur++;
                          ADVANCE(); return TOK_SKIP; }
        [ \t\r\n]+      { ADVANCE(); return TOK_SKIP; }
        [a-zA-Z_][a-zA-Z0-9_]* { ADVANCE(); return IDENTIFIER; }
        ","             { ADVANCE(); return COMMA; }
        ["']            { ADVANCE(); return lex_string(ps, cur[-1]); }
        "`"             { ADVANCE(); return lex_string(ps, '`'); }
        "=~"            { ADVANCE(); return EQL_REGEX; }
        "="             { ADVANCE(); return EQL; }
        "!~"            { ADVANCE(); return NEQ_REGEX; }
        "!="            { ADVANCE(); return NEQ; }
        "!"             { runes r = {ps, 0};
                          ADVANCE();
                          quote_rune(next(&r), q, sizeof q);
                          return LEX_ERROR("unexpected character after '!' inside braces: %s", q); }
        "{"             { return LEX_ERROR("unexpected left brace '{'"); }
        "}"             { ADVANCE(); ps->brace_open = 0; return RIGHT_BRACE; }
        *               { runes r = {ps, 0};
                          quote_rune(next(&r), q, sizeof q);
                          return LEX_ERROR("unexpected character inside braces: %s", q); }
    */
}

/* The bison lexer entry: the next token with its text and byte range.
 * Comments and blanks are skipped; after end of input or an error, 0. */
int pq_yylex(PQ_YYSTYPE *lval, PQ_YYLTYPE *lloc, pq_pstate *ps) {
    for (;;) {
        if (ps->done) {
            lloc->start = lloc->end = ps->len;
            return 0;
        }
        ps->start = ps->pos;
        int t;
        if (ps->want_duration) {
            /* Prometheus skips blanks after '[' before lexDuration */
            while (ps->pos < ps->len && is_space((unsigned char)ps->text[ps->pos])) ps->pos++;
            ps->start = ps->pos;
            ps->want_duration = 0;
            t = lex_duration(ps);
        } else {
            t = ps->brace_open ? lex_braces(ps) : lex_statement(ps);
        }
        if (t == TOK_SKIP) continue;
        if (t == TOK_FAIL) {
            ps->done = 1;
            continue;
        }
        lval->tok.pos = ps->start;
        lval->tok.len = ps->pos - ps->start;
        lloc->start = ps->start;
        lloc->end = ps->pos;
        ps->last = lval->tok;
        ps->last_kind = t;
        if (t == T_EOF) ps->done = 1;
        return t;
    }
}
