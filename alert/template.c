/*
 * template.c - see template.h.  Go's text/template, parsed and executed in C.
 *
 * Why hand-written: no C library implements Go templates, and what users
 * see must be what Prometheus and Alertmanager would print: the output of
 * fmt's verbs and strconv's float formatting, and the error messages with
 * their line:column positions, which people paste into bug reports and
 * rule tests.  So each part follows its Go counterpart closely, in Go's
 * order of checks:
 *   - the lexer is text/template/parse/lex.go, run to the end of the input
 *     into a token array (one error token ends it); trim markers and
 *     comments are handled there, as in Go;
 *   - the parser is parse.go: recursive descent over the tokens with Go's
 *     look-ahead, variable scoping, function checks and messages.  A parse
 *     error unwinds with longjmp: everything the parser allocates is in the
 *     template's arena or in arrays the entry point frees, so nothing leaks;
 *   - the executor is exec.go and funcs.go: it walks the tree with the
 *     data, a variable stack and the node it is at (for error positions);
 *     errors are returned (NULL / -1) up the call chain, because functions
 *     hold PCRE2 objects and buffers that must be released on the way out;
 *   - printing is fmt's printArg/printValue and doPrintf, verb by verb,
 *     including the %!verb(type=value) forms of mistakes.
 *
 * Values are small immutable structs handed out from a bump arena
 * (tmpl_data): a template execution builds a few hundred of them, all
 * freed at once.  A map is a sorted entry array (binary search), or a
 * label array used in place (the label sets promlite holds are sorted by
 * name already), so expanding an alert's labels copies nothing.  The
 * executor allocates its temporaries from its own arena, which is what
 * max_memory bounds.
 *
 * Unicode: case mapping and the letter, space and printable tests of
 * Go's unicode package use the C library's tables of the "C.UTF-8" locale
 * through a locale_t the template owns (the *_l functions are thread-safe);
 * without that locale only ASCII is mapped.  Invalid UTF-8 decodes to
 * U+FFFD one byte at a time, as in Go.
 *
 * Regular expressions (match, reReplaceAll) are PCRE2 with the settings
 * that make it behave like Go's RE2 syntax where the two differ by default:
 * "$" is the end of the text only, newline is LF only, repeated group names
 * are accepted, and invalid UTF-8 in the subject is matched, not an error.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "alert/template.h"
#include "common/utf8.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <locale.h>
#include <math.h>
#include <pcre2.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wctype.h>

#include "common/timeutil.h"

#define DEFAULT_MAX_OUTPUT ((size_t)1 << 20)
#define DEFAULT_MAX_MEMORY ((size_t)16 << 20)
#define DEFAULT_MAX_STEPS 1000000u
#define DEFAULT_MAX_DEPTH 100u
#define MAX_PARSE_DEPTH 200u      /* nested parentheses and control structures */
#define MAX_EXEC_NESTING 1000u    /* nested walks and pipelines while executing */
#define FMT_MAX_WIDTH 1000000     /* fmt's tooLarge() */
#define MAX_PRINT_DEPTH 1000u     /* nested lists and maps when printing */

/* ------------------------------------------------------------ arena */

typedef struct arena_block {
    struct arena_block *next;
    size_t size, used;
    max_align_t data[];
} arena_block;

struct tmpl_data {
    arena_block *blocks;   /* the first is the one being filled */
    size_t total;          /* bytes handed out since the last reset */
};

#define ARENA_BLOCK_SIZE 16384
#define ARENA_ALIGN _Alignof(max_align_t)

/* Bump allocation; a request larger than a quarter block gets a block of
 * its own, linked behind the current one so the current one keeps serving
 * small requests. */
static void *arena_alloc(tmpl_data *d, size_t n) {
    n = (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    if (n == 0) n = ARENA_ALIGN;
    arena_block *b = d->blocks;
    if (!b || b->size - b->used < n) {
        if (n > ARENA_BLOCK_SIZE / 4) {
            arena_block *big = xmalloc(sizeof *big + n);
            big->size = big->used = n;
            if (b) {
                big->next = b->next;
                b->next = big;
            } else {
                big->next = NULL;
                d->blocks = big;
            }
            d->total += n;
            return big->data;
        }
        b = xmalloc(sizeof *b + ARENA_BLOCK_SIZE);
        b->size = ARENA_BLOCK_SIZE;
        b->used = 0;
        b->next = d->blocks;
        d->blocks = b;
    }
    void *p = (unsigned char *)b->data + b->used;
    b->used += n;
    d->total += n;
    return p;
}

static char *arena_strndup(tmpl_data *d, const char *s, size_t n) {
    char *p = arena_alloc(d, n + 1);
    if (n) memcpy(p, s, n);
    p[n] = 0;
    return p;
}

tmpl_data *tmpl_data_new(void) {
    return xcalloc(1, sizeof(tmpl_data));
}

/* Keeps one ordinary block for the next round of values and frees the
 * rest (large single-value blocks are not worth keeping). */
void tmpl_data_reset(tmpl_data *d) {
    if (!d) return;
    /* Keep one ordinary block; free the rest. */
    arena_block *keep = NULL;
    for (arena_block *b = d->blocks, *next; b; b = next) {
        next = b->next;
        if (!keep && b->size == ARENA_BLOCK_SIZE) {
            keep = b;
            continue;
        }
        free(b);
    }
    if (keep) {
        keep->next = NULL;
        keep->used = 0;
    }
    d->blocks = keep;
    d->total = 0;
}

void tmpl_data_free(tmpl_data *d) {
    if (!d) return;
    for (arena_block *b = d->blocks, *next; b; b = next) {
        next = b->next;
        free(b);
    }
    free(d);
}

const char *tmpl_data_strdup(tmpl_data *d, const char *s, size_t len) {
    return arena_strndup(d, s, len);
}

const label *tmpl_data_copy_labels(tmpl_data *d, const label *ls, size_t n) {
    label *out = arena_alloc(d, (n ? n : 1) * sizeof *out);
    for (size_t i = 0; i < n; i++) {
        out[i].name = arena_strndup(d, ls[i].name, ls[i].name_len);
        out[i].name_len = ls[i].name_len;
        out[i].value = arena_strndup(d, ls[i].value, ls[i].value_len);
        out[i].value_len = ls[i].value_len;
    }
    return out;
}

/* ------------------------------------------------------------ values */

typedef enum { K_NIL, K_BOOL, K_INT, K_FLOAT, K_STRING, K_LIST, K_MAP, K_TIME } value_kind;

/* Map flavours: the public tmpl_map_type values plus structs. */
#define M_STRUCT 3

typedef struct {
    const char *key;
    size_t key_len;
    const tmpl_value *val;
} map_entry;

struct tmpl_value {
    uint8_t kind;           /* value_kind */
    uint8_t sub;            /* tmpl_list_type, or tmpl_map_type / M_STRUCT */
    uint8_t by_labels;      /* K_MAP over a sorted label array */
    size_t n, cap;          /* string bytes; list items; map entries or labels */
    const char *type_name;  /* structs */
    union {
        int b;
        int64_t i;
        double f;
        const char *s;
        const tmpl_value **items;
        map_entry *entries;
        const label *labels;
        struct {
            int64_t sec;
            int32_t nsec;
        } t;
    } u;
};

static const tmpl_value nil_value = {.kind = K_NIL};
static const tmpl_value true_value = {.kind = K_BOOL, .u.b = 1};
static const tmpl_value false_value = {.kind = K_BOOL, .u.b = 0};
static const tmpl_value empty_string_value = {.kind = K_STRING, .u.s = ""};

static tmpl_value *value_new(tmpl_data *d, value_kind kind) {
    tmpl_value *v = arena_alloc(d, sizeof *v);
    memset(v, 0, sizeof *v);
    v->kind = (uint8_t)kind;
    return v;
}

const tmpl_value *tmpl_nil(void) { return &nil_value; }
const tmpl_value *tmpl_bool(int b) { return b ? &true_value : &false_value; }

const tmpl_value *tmpl_int(tmpl_data *d, int64_t v) {
    tmpl_value *x = value_new(d, K_INT);
    x->u.i = v;
    return x;
}

const tmpl_value *tmpl_float(tmpl_data *d, double v) {
    tmpl_value *x = value_new(d, K_FLOAT);
    x->u.f = v;
    return x;
}

const tmpl_value *tmpl_string(tmpl_data *d, const char *s, size_t len) {
    if (len == 0) return &empty_string_value;
    tmpl_value *x = value_new(d, K_STRING);
    x->u.s = s;
    x->n = len;
    return x;
}

const tmpl_value *tmpl_time(tmpl_data *d, int64_t sec, int32_t nsec) {
    tmpl_value *x = value_new(d, K_TIME);
    x->u.t.sec = sec;
    x->u.t.nsec = nsec;
    return x;
}

tmpl_value *tmpl_list(tmpl_data *d, tmpl_list_type type, size_t cap) {
    tmpl_value *l = value_new(d, K_LIST);
    l->sub = (uint8_t)type;
    l->cap = cap;
    l->u.items = cap ? arena_alloc(d, cap * sizeof *l->u.items) : NULL;
    return l;
}

void tmpl_list_push(tmpl_data *d, tmpl_value *l, const tmpl_value *item) {
    if (!l || l->kind != K_LIST) return;
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 4;
        const tmpl_value **items = arena_alloc(d, cap * sizeof *items);
        if (l->n) memcpy(items, l->u.items, l->n * sizeof *items);
        l->u.items = items;
        l->cap = cap;
    }
    l->u.items[l->n++] = item ? item : &nil_value;
}

static tmpl_value *map_new(tmpl_data *d, int sub, size_t cap) {
    tmpl_value *m = value_new(d, K_MAP);
    m->sub = (uint8_t)sub;
    m->cap = cap;
    m->u.entries = cap ? arena_alloc(d, cap * sizeof *m->u.entries) : NULL;
    return m;
}

tmpl_value *tmpl_map(tmpl_data *d, tmpl_map_type type, size_t cap) {
    return map_new(d, type, cap);
}

tmpl_value *tmpl_struct(tmpl_data *d, const char *type_name, size_t cap) {
    tmpl_value *m = map_new(d, M_STRUCT, cap);
    m->type_name = type_name ? type_name : "struct {}";
    return m;
}

/* Go's string ordering: bytewise, a prefix first. */
static int str_cmp(const char *a, size_t an, const char *b, size_t bn) {
    int c = memcmp(a, b, an < bn ? an : bn);
    if (c) return c;
    return an < bn ? -1 : an > bn;
}

/* Maps stay sorted by key (binary search, Go's fmt and range order);
 * structs keep declaration order and are searched linearly (few fields). */
void tmpl_map_put(tmpl_data *d, tmpl_value *m, const char *key, size_t key_len, const tmpl_value *v) {
    if (!m || m->kind != K_MAP || m->by_labels) return;
    if (!v) v = &nil_value;
    size_t pos = m->n;
    if (m->sub == M_STRUCT) {
        for (size_t i = 0; i < m->n; i++)
            if (str_cmp(m->u.entries[i].key, m->u.entries[i].key_len, key, key_len) == 0) {
                m->u.entries[i].val = v;
                return;
            }
    } else {
        size_t lo = 0, hi = m->n;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            int c = str_cmp(m->u.entries[mid].key, m->u.entries[mid].key_len, key, key_len);
            if (c == 0) {
                m->u.entries[mid].val = v;
                return;
            }
            if (c < 0) lo = mid + 1;
            else hi = mid;
        }
        pos = lo;
    }
    if (m->n == m->cap) {
        size_t cap = m->cap ? 2 * m->cap : 4;
        map_entry *e = arena_alloc(d, cap * sizeof *e);
        if (m->n) memcpy(e, m->u.entries, m->n * sizeof *e);
        m->u.entries = e;
        m->cap = cap;
    }
    memmove(m->u.entries + pos + 1, m->u.entries + pos, (m->n - pos) * sizeof *m->u.entries);
    m->u.entries[pos] = (map_entry){key, key_len, v};
    m->n++;
}

/* A sorted label set is used in place; anything else is copied into a
 * sorted entry map (pointers only). */
const tmpl_value *tmpl_labels(tmpl_data *d, tmpl_map_type type, const label *ls, size_t n) {
    int sorted = 1;
    for (size_t i = 1; i < n && sorted; i++)
        if (str_cmp(ls[i - 1].name, ls[i - 1].name_len, ls[i].name, ls[i].name_len) >= 0) sorted = 0;
    if (type != TMPL_MAP_KV) type = TMPL_MAP_STRINGS;
    if (sorted) {
        tmpl_value *m = value_new(d, K_MAP);
        m->sub = (uint8_t)type;
        m->by_labels = 1;
        m->n = n;
        m->u.labels = ls;
        return m;
    }
    tmpl_value *m = map_new(d, type, n);
    for (size_t i = 0; i < n; i++)
        tmpl_map_put(d, m, ls[i].name, ls[i].name_len, tmpl_string(d, ls[i].value, ls[i].value_len));
    return m;
}

const tmpl_value *tmpl_sample(tmpl_data *d, const label *ls, size_t n, double value) {
    tmpl_value *s = tmpl_struct(d, "*template.sample", 2);
    tmpl_map_put(d, s, "Labels", 6, tmpl_labels(d, TMPL_MAP_STRINGS, ls, n));
    tmpl_map_put(d, s, "Value", 5, tmpl_float(d, value));
    return s;
}

const tmpl_value *tmpl_alert_data(tmpl_data *d, const label *ls, size_t n, const label *external, size_t nexternal,
                                  const char *external_url, double value) {
    tmpl_value *s = tmpl_struct(d,
                                "struct { Labels map[string]string; ExternalLabels map[string]string; "
                                "ExternalURL string; Value float64 }",
                                4);
    tmpl_map_put(d, s, "Labels", 6, tmpl_labels(d, TMPL_MAP_STRINGS, ls, n));
    tmpl_map_put(d, s, "ExternalLabels", 14, tmpl_labels(d, TMPL_MAP_STRINGS, external, nexternal));
    const char *u = external_url ? external_url : "";
    tmpl_map_put(d, s, "ExternalURL", 11, tmpl_string(d, u, strlen(u)));
    tmpl_map_put(d, s, "Value", 5, tmpl_float(d, value));
    return s;
}

/* The Go type a value stands for, as reflect's Type.String() spells it
 * (for "wrong type" messages, %T and %!verb(type=value)). */
static const char *value_type_name(const tmpl_value *v) {
    switch ((value_kind)v->kind) {
    case K_NIL: return "<nil>";
    case K_BOOL: return "bool";
    case K_INT: return "int";
    case K_FLOAT: return "float64";
    case K_STRING: return "string";
    case K_TIME: return "*time.Time";
    case K_LIST:
        switch (v->sub) {
        case TMPL_LIST_STRINGS: return "[]string";
        case TMPL_LIST_SAMPLES: return "template.queryResult";
        case TMPL_LIST_ALERTS: return "template.Alerts";
        case TMPL_LIST_PAIRS: return "template.Pairs";
        default: return "[]interface {}";
        }
    case K_MAP:
        switch (v->sub) {
        case TMPL_MAP_STRINGS: return "map[string]string";
        case TMPL_MAP_KV: return "template.KV";
        case M_STRUCT: return v->type_name;
        default: return "map[string]interface {}";
        }
    }
    return "?";
}

/* Number of entries of a map or items of a list. */
static size_t value_len(const tmpl_value *v) { return v->n; }

/* ------------------------------------------------------------ UTF-8 */

#define RUNE_ERROR UTF8_RUNE_ERROR

static void buf_rune(buf *b, uint32_t cp) {
    char enc[4];
    buf_append(b, enc, utf8_encode(cp, enc));
}

/* unicode.IsSpace. */
static int rune_is_space(uint32_t cp, locale_t loc) {
    switch (cp) {
    case ' ': case '\t': case '\n': case '\v': case '\f': case '\r': case 0x85: case 0xA0: return 1;
    }
    if (cp < 0x80) return 0;
    if (cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
        cp == 0x205F || cp == 0x3000)
        return 1;
    return loc ? iswspace_l((wint_t)cp, loc) != 0 : 0;
}

/* unicode.IsLetter || unicode.IsDigit (identifiers, Regexp.Expand names). */
static int rune_is_alnum(uint32_t cp, locale_t loc) {
    if (cp < 0x80) return (cp >= '0' && cp <= '9') || ((cp | 0x20) >= 'a' && (cp | 0x20) <= 'z');
    if (cp == RUNE_ERROR || rune_is_space(cp, loc)) return 0;
    if (loc) return iswalnum_l((wint_t)cp, loc) != 0;
    return cp >= 0xC0;
}

/* unicode.IsPrint: letters, marks, numbers, punctuation, symbols and the
 * ASCII space. */
static int rune_is_print(uint32_t cp, locale_t loc) {
    if (cp < 0x80) return cp >= 0x20 && cp < 0x7F;
    if (cp < 0xA1 || cp == 0xAD || cp == 0xFEFF || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) return 0;
    if ((cp >= 0x200B && cp <= 0x200F) || (cp >= 0x2028 && cp <= 0x202E) || (cp >= 0x2060 && cp <= 0x206F))
        return 0;
    if (rune_is_space(cp, loc)) return 0;
    if (loc) return iswprint_l((wint_t)cp, loc) != 0;
    return 1;
}

static uint32_t rune_upper(uint32_t cp, locale_t loc) {
    if (cp < 0x80) return (cp >= 'a' && cp <= 'z') ? cp - 32 : cp;
    return loc ? (uint32_t)towupper_l((wint_t)cp, loc) : cp;
}

static uint32_t rune_lower(uint32_t cp, locale_t loc) {
    if (cp < 0x80) return (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
    return loc ? (uint32_t)towlower_l((wint_t)cp, loc) : cp;
}

static const char lower_hex[] = "0123456789abcdef";

/* strconv's appendEscapedRune: one rune of a quoted string or character
 * literal with the given quote. */
static void quote_rune_into(buf *b, uint32_t r, char quote, int ascii_only, locale_t loc) {
    if (r == (uint32_t)(unsigned char)quote || r == '\\') {
        char e[2] = {'\\', (char)r};
        buf_append(b, e, 2);
        return;
    }
    if (ascii_only ? (r < 0x80 && rune_is_print(r, loc)) : rune_is_print(r, loc)) {
        buf_rune(b, r);
        return;
    }
    switch (r) {
    case '\a': buf_append(b, "\\a", 2); return;
    case '\b': buf_append(b, "\\b", 2); return;
    case '\f': buf_append(b, "\\f", 2); return;
    case '\n': buf_append(b, "\\n", 2); return;
    case '\r': buf_append(b, "\\r", 2); return;
    case '\t': buf_append(b, "\\t", 2); return;
    case '\v': buf_append(b, "\\v", 2); return;
    }
    if (r < ' ' || r == 0x7F) {
        buf_printf(b, "\\x%c%c", lower_hex[r >> 4], lower_hex[r & 0xF]);
        return;
    }
    if (r > 0x10FFFF || (r >= 0xD800 && r <= 0xDFFF)) r = RUNE_ERROR;
    if (r < 0x10000) buf_printf(b, "\\u%04" PRIx32, r);
    else buf_printf(b, "\\U%08" PRIx32, r);
}

/* strconv.Quote (QuoteToASCII when ascii_only). */
static void go_quote(buf *b, const char *s, size_t n, int ascii_only, locale_t loc) {
    buf_append(b, "\"", 1);
    for (size_t i = 0; i < n;) {
        uint32_t r;
        size_t w = utf8_decode((const unsigned char *)s + i, n - i, &r);
        if (w == 1 && r == RUNE_ERROR) {
            unsigned c = (unsigned char)s[i];
            buf_printf(b, "\\x%c%c", lower_hex[c >> 4], lower_hex[c & 0xF]);
        } else {
            quote_rune_into(b, r, '"', ascii_only, loc);
        }
        i += w;
    }
    buf_append(b, "\"", 1);
}

/* strconv.QuoteRune. */
static void go_quote_rune(buf *b, uint32_t r, int ascii_only, locale_t loc) {
    if (r > 0x10FFFF || (r >= 0xD800 && r <= 0xDFFF)) r = RUNE_ERROR;
    buf_append(b, "'", 1);
    quote_rune_into(b, r, '\'', ascii_only, loc);
    buf_append(b, "'", 1);
}

/* strconv.CanBackquote. */
static int can_backquote(const char *s, size_t n) {
    for (size_t i = 0; i < n;) {
        uint32_t r;
        size_t w = utf8_decode((const unsigned char *)s + i, n - i, &r);
        i += w;
        if (w > 1) {
            if (r == 0xFEFF) return 0;
            continue;
        }
        if (r == RUNE_ERROR) return 0;
        if ((r < ' ' && r != '\t') || r == '`' || r == 0x7F) return 0;
    }
    return 1;
}

/* fmt's %#U spelling of a rune in lexer messages: U+0029 ')' or U+00A0. */
static void format_rune_U(buf *b, uint32_t r, locale_t loc) {
    buf_printf(b, "U+%04" PRIX32, r);
    if (rune_is_print(r, loc)) {
        buf_append(b, " '", 2);
        buf_rune(b, r);
        buf_append(b, "'", 1);
    }
}

/* ------------------------------------------------------------ strconv */

static int hex_digit(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* strconv.UnquoteChar: decodes one character of a quoted literal at
 * s[0..n) into *r; *multibyte says whether it is a code point (UTF-8
 * encoded on output) rather than a byte (\x, octal).  Returns the bytes
 * consumed, 0 on a syntax error. */
static size_t unquote_char(const char *s, size_t n, char quote, uint32_t *r, int *multibyte) {
    *multibyte = 0;
    if (n == 0) return 0;
    unsigned char c = (unsigned char)s[0];
    if (c == (unsigned char)quote && (quote == '\'' || quote == '"')) return 0;
    if (c >= 0x80) {
        *multibyte = 1;
        return utf8_decode((const unsigned char *)s, n, r);
    }
    if (c != '\\') {
        *r = c;
        return 1;
    }
    if (n <= 1) return 0;
    c = (unsigned char)s[1];
    switch (c) {
    case 'a': *r = '\a'; return 2;
    case 'b': *r = '\b'; return 2;
    case 'f': *r = '\f'; return 2;
    case 'n': *r = '\n'; return 2;
    case 'r': *r = '\r'; return 2;
    case 't': *r = '\t'; return 2;
    case 'v': *r = '\v'; return 2;
    case '\\': *r = '\\'; return 2;
    case '\'': case '"':
        if (c != (unsigned char)quote) return 0;
        *r = c;
        return 2;
    case 'x': case 'u': case 'U': {
        size_t digits = c == 'x' ? 2 : c == 'u' ? 4 : 8;
        if (n < 2 + digits) return 0;
        uint32_t v = 0;
        for (size_t j = 0; j < digits; j++) {
            int h = hex_digit((unsigned char)s[2 + j]);
            if (h < 0) return 0;
            v = (v << 4) | (uint32_t)h;
        }
        if (c != 'x') {
            if (v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
            *multibyte = 1;
        }
        *r = v;
        return 2 + digits;
    }
    default:
        if (c >= '0' && c <= '7') {
            if (n < 4) return 0;
            uint32_t v = c - '0';
            for (size_t j = 2; j < 4; j++) {
                if (s[j] < '0' || s[j] > '7') return 0;
                v = (v << 3) | (uint32_t)(s[j] - '0');
            }
            if (v > 255) return 0;
            *r = v;
            return 4;
        }
        return 0;
    }
}

/* strconv.Unquote of a "..." or `...` literal into b.  Returns 0, or -1 on
 * a syntax error. */
static int go_unquote(const char *s, size_t n, buf *b) {
    if (n < 2 || s[0] != s[n - 1]) return -1;
    const char *in = s + 1;
    size_t len = n - 2;
    if (s[0] == '`') {
        if (memchr(in, '`', len)) return -1;
        for (size_t i = 0; i < len; i++)
            if (in[i] != '\r') buf_append(b, in + i, 1);
        return 0;
    }
    if (s[0] != '"') return -1;
    for (size_t i = 0; i < len;) {
        if (in[i] == '\n') return -1;
        uint32_t r;
        int multibyte;
        size_t w = unquote_char(in + i, len - i, '"', &r, &multibyte);
        if (w == 0) return -1;
        if (r < 0x80 || !multibyte) {
            unsigned char c = (unsigned char)r;
            buf_append(b, &c, 1);
        } else {
            buf_rune(b, r);
        }
        i += w;
    }
    return 0;
}

/* strconv's underscoreOK: underscores only between digits or after a
 * base prefix. */
static int underscore_ok(const char *s, size_t n) {
    char saw = '^';
    size_t i = 0;
    if (n >= 1 && (s[0] == '-' || s[0] == '+')) { s++; n--; }
    int hex = 0;
    if (n >= 2 && s[0] == '0' && ((s[1] | 0x20) == 'b' || (s[1] | 0x20) == 'o' || (s[1] | 0x20) == 'x')) {
        i = 2;
        saw = '0';
        hex = (s[1] | 0x20) == 'x';
    }
    for (; i < n; i++) {
        if ((s[i] >= '0' && s[i] <= '9') || (hex && hex_digit((unsigned char)s[i]) >= 0)) {
            saw = '0';
            continue;
        }
        if (s[i] == '_') {
            if (saw != '0') return 0;
            saw = '_';
            continue;
        }
        if (saw == '_') return 0;
        saw = '!';
    }
    return saw != '_';
}

/* strconv.ParseUint(s, 0, 64): base prefixes 0b 0o 0x, a leading 0 for
 * octal, underscores where Go allows them.  Returns 0 and sets *u, or -1
 * (syntax, or more than 64 bits). */
static int go_parse_uint(const char *s, size_t n, uint64_t *u) {
    if (n == 0) return -1;
    const char *s0 = s;
    size_t n0 = n;
    unsigned base = 10;
    if (s[0] == '0') {
        char c = n >= 3 ? (char)(s[1] | 0x20) : 0;
        size_t skip = 1;
        base = 8;
        if (c == 'b') { base = 2; skip = 2; }
        else if (c == 'o') { skip = 2; }
        else if (c == 'x') { base = 16; skip = 2; }
        s += skip;
        n -= skip;
    }
    uint64_t v = 0;
    int underscores = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '_') {
            underscores = 1;
            continue;
        }
        int d = hex_digit((unsigned char)s[i]);
        if (d < 0 || (unsigned)d >= base) return -1;
        if (v > (UINT64_MAX - (uint64_t)d) / base) return -1;
        v = v * base + (uint64_t)d;
    }
    if (underscores && !underscore_ok(s0, n0)) return -1;
    *u = v;
    return 0;
}

/* strconv.ParseInt(s, 0, 64). */
static int go_parse_int(const char *s, size_t n, int64_t *out) {
    if (n == 0) return -1;
    int neg = 0;
    if (s[0] == '+' || s[0] == '-') {
        neg = s[0] == '-';
        s++;
        n--;
    }
    uint64_t u;
    if (go_parse_uint(s, n, &u) != 0) return -1;
    if (neg) {
        if (u > (uint64_t)INT64_MAX + 1) return -1;
        *out = u == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)u;
    } else {
        if (u > (uint64_t)INT64_MAX) return -1;
        *out = (int64_t)u;
    }
    return 0;
}

/* strconv.ParseFloat(s, 64): decimal and hexadecimal (p exponent
 * required) forms, "inf", "infinity", "nan" in any case (signs only on
 * infinities).  Returns 0 and sets *out; -1 on a syntax error; -2 when the
 * value overflows (*out is then +-Inf, as Go returns). */
static int go_parse_float(const char *s, size_t n, double *out) {
    size_t i = 0;
    int neg = 0;
    if (n && (s[0] == '+' || s[0] == '-')) {
        neg = s[0] == '-';
        i = 1;
    }
    /* Specials. */
    size_t rest = n - i;
    if (rest == 3 || rest == 8) {
        const char *word = rest == 3 ? "inf" : "infinity";
        size_t k = 0;
        while (k < rest && (s[i + k] | 0x20) == word[k]) k++;
        if (k == rest) {
            *out = neg ? -INFINITY : INFINITY;
            return 0;
        }
    }
    if (n == 3 && (s[0] | 0x20) == 'n' && (s[1] | 0x20) == 'a' && (s[2] | 0x20) == 'n') {
        *out = NAN;
        return 0;
    }
    int hex = rest >= 2 && s[i] == '0' && (s[i + 1] | 0x20) == 'x';
    size_t j = i + (hex ? 2 : 0);
    int digits = 0, underscores = 0;
    for (; j < n; j++) {
        if (s[j] == '_') { underscores = 1; continue; }
        if (hex ? hex_digit((unsigned char)s[j]) >= 0 : (s[j] >= '0' && s[j] <= '9')) { digits++; continue; }
        break;
    }
    if (j < n && s[j] == '.') {
        for (j++; j < n; j++) {
            if (s[j] == '_') { underscores = 1; continue; }
            if (hex ? hex_digit((unsigned char)s[j]) >= 0 : (s[j] >= '0' && s[j] <= '9')) { digits++; continue; }
            break;
        }
    }
    if (!digits) return -1;
    if (j < n && (s[j] | 0x20) == (hex ? 'p' : 'e')) {
        j++;
        if (j < n && (s[j] == '+' || s[j] == '-')) j++;
        int edigits = 0;
        for (; j < n; j++) {
            if (s[j] == '_') { underscores = 1; continue; }
            if (s[j] < '0' || s[j] > '9') break;
            edigits++;
        }
        if (!edigits) return -1;
    } else if (hex) {
        return -1;
    }
    if (j != n) return -1;
    if (underscores && !underscore_ok(s, n)) return -1;
    char tmp[128];
    char *copy = n < sizeof tmp ? tmp : xmalloc(n + 1);
    size_t k = 0;
    for (size_t p = 0; p < n; p++)
        if (s[p] != '_') copy[k++] = s[p];
    copy[k] = 0;
    errno = 0;
    double v = strtod(copy, NULL);
    int overflow = errno == ERANGE && isinf(v);
    if (copy != tmp) free(copy);
    *out = v;
    return overflow ? -2 : 0;
}

/* Go's int64(f) on amd64: out-of-range values and NaN give INT64_MIN. */
static int64_t go_int64(double f) {
    if (!(f >= -9223372036854775808.0 && f < 9223372036854775808.0)) return INT64_MIN;
    return (int64_t)f;
}

/* fmt's %.4g (Prometheus's humanize functions): C's %g agrees with Go's
 * for finite values; Go spells infinities +Inf/-Inf and NaN as NaN. */
static void format_g(buf *b, double v, int prec) {
    if (isnan(v)) buf_append(b, "NaN", 3);
    else if (isinf(v)) buf_append(b, v > 0 ? "+Inf" : "-Inf", 4);
    else buf_printf(b, "%.*g", prec, v);
}

/* ------------------------------------------------------------ lexer */

/* Token types in Go's order: the keywords come after T_KEYWORD, which
 * matters for how a token is spelled in messages ("<end>"). */
typedef enum {
    T_ERROR, T_BOOL, T_CHAR, T_CHARCONST, T_COMPLEX, T_ASSIGN, T_DECLARE, T_EOF, T_FIELD, T_IDENT, T_LEFT,
    T_LPAREN, T_NUMBER, T_PIPE, T_RAWSTRING, T_RIGHT, T_RPAREN, T_SPACE, T_STRING, T_TEXT, T_VARIABLE,
    T_KEYWORD, T_BLOCK, T_BREAK, T_CONTINUE, T_DOT, T_DEFINE, T_ELSE, T_END, T_IF, T_NIL, T_RANGE,
    T_TEMPLATE, T_WITH,
} tok_type;

typedef struct {
    tok_type type;
    size_t pos;          /* byte offset of the token in the text */
    const char *val;     /* its text, or an error message */
    size_t len;
    int line;            /* line of its first byte */
} token;

typedef struct {
    const char *in;
    size_t n;
    size_t pos, start;   /* current position; start of the pending token */
    int start_line;      /* line at start */
    int paren_depth;
    token *toks;
    size_t ntoks, cap;
    tmpl_data *arena;    /* error messages */
    locale_t loc;
} lexer;

typedef enum { S_TEXT, S_INSIDE, S_DONE } lex_state;

static int is_space_byte(int c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

static int at(const lexer *l, size_t pos, const char *s) {
    size_t k = strlen(s);
    return pos <= l->n && l->n - pos >= k && memcmp(l->in + pos, s, k) == 0;
}

/* Moves the start of the next token to pos, counting the lines skipped. */
static void lex_ignore(lexer *l) {
    for (size_t i = l->start; i < l->pos; i++)
        if (l->in[i] == '\n') l->start_line++;
    l->start = l->pos;
}

static void lex_push(lexer *l, token t) {
    if (l->ntoks == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 64;
        l->toks = xrealloc(l->toks, l->cap * sizeof *l->toks);
    }
    l->toks[l->ntoks++] = t;
}

static void lex_emit(lexer *l, tok_type type) {
    lex_push(l, (token){type, l->start, l->in + l->start, l->pos - l->start, l->start_line});
    lex_ignore(l);
}

static lex_state lex_errorf(lexer *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static lex_state lex_errorf(lexer *l, const char *fmt, ...) {
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    size_t n = strlen(msg);
    lex_push(l, (token){T_ERROR, l->start, arena_strndup(l->arena, msg, n), n, l->start_line});
    return S_DONE;
}

/* An error message with a %#U rune or a %q string in it. */
static lex_state lex_error_rune(lexer *l, const char *prefix, uint32_t r) {
    buf b = {0};
    format_rune_U(&b, r, l->loc);
    buf_append(&b, "", 1);
    lex_errorf(l, "%s%s", prefix, (char *)b.data);
    buf_free(&b);
    return S_DONE;
}

static lex_state lex_error_quoted(lexer *l, const char *prefix, const char *s, size_t n) {
    buf b = {0};
    go_quote(&b, s, n, 0, l->loc);
    buf_append(&b, "", 1);
    lex_errorf(l, "%s%s", prefix, (char *)b.data);
    buf_free(&b);
    return S_DONE;
}

static int has_left_trim(const lexer *l, size_t pos) {
    return pos + 2 <= l->n && l->in[pos] == '-' && is_space_byte((unsigned char)l->in[pos + 1]);
}

static int has_right_trim(const lexer *l, size_t pos) {
    return pos + 2 <= l->n && is_space_byte((unsigned char)l->in[pos]) && l->in[pos + 1] == '-';
}

/* Whether the input at pos is "}}" or " -}}" (*trim set). */
static int at_right_delim(const lexer *l, int *trim) {
    *trim = 0;
    if (has_right_trim(l, l->pos) && at(l, l->pos + 2, "}}")) {
        *trim = 1;
        return 1;
    }
    return at(l, l->pos, "}}");
}

static uint32_t lex_peek_rune(const lexer *l, size_t *w) {
    uint32_t r = 0;
    *w = 0;
    if (l->pos < l->n) *w = utf8_decode((const unsigned char *)l->in + l->pos, l->n - l->pos, &r);
    return r;
}

static int lex_is_alnum(const lexer *l, uint32_t r) { return r == '_' || rune_is_alnum(r, l->loc); }

/* After an identifier: a space, the end, one of . , | : ) ( or "}}". */
static int at_terminator(const lexer *l) {
    if (l->pos >= l->n) return 1;
    char c = l->in[l->pos];
    if (is_space_byte((unsigned char)c)) return 1;
    switch (c) {
    case '.': case ',': case '|': case ':': case ')': case '(': return 1;
    }
    return at(l, l->pos, "}}");
}

static lex_state lex_left_delim(lexer *l);

/* Text up to the next "{{", trimmed on the right when that delimiter is
 * "{{- ". */
static lex_state lex_text(lexer *l) {
    size_t at_delim = l->n;
    for (size_t i = l->pos; i + 1 < l->n; i++)
        if (l->in[i] == '{' && l->in[i + 1] == '{') {
            at_delim = i;
            break;
        }
    if (at_delim < l->n) {
        if (at_delim > l->pos) {
            size_t end = at_delim;
            if (has_left_trim(l, at_delim + 2))
                while (end > l->start && is_space_byte((unsigned char)l->in[end - 1])) end--;
            l->pos = end;
            if (end > l->start) lex_emit(l, T_TEXT);
            l->pos = at_delim;
            lex_ignore(l);
        }
        return lex_left_delim(l);
    }
    l->pos = l->n;
    if (l->pos > l->start) lex_emit(l, T_TEXT);
    lex_emit(l, T_EOF);
    return S_DONE;
}

/* A template comment (slash-star to star-slash inside the delimiters),
 * with optional trim markers; Go requires the comment to
 * end right at the closing delimiter. */
static lex_state lex_comment(lexer *l) {
    l->pos += 2;
    size_t end = l->n;
    for (size_t i = l->pos; i + 1 < l->n; i++)
        if (l->in[i] == '*' && l->in[i + 1] == '/') {
            end = i;
            break;
        }
    if (end == l->n) return lex_errorf(l, "unclosed comment");
    l->pos = end + 2;
    int trim;
    if (!at_right_delim(l, &trim)) return lex_errorf(l, "comment ends before closing delimiter");
    if (trim) l->pos += 2;
    l->pos += 2;
    if (trim)
        while (l->pos < l->n && is_space_byte((unsigned char)l->in[l->pos])) l->pos++;
    lex_ignore(l);
    return S_TEXT;
}

/* "{{", "{{- " (the text before was trimmed by lex_text) or the start of a
 * comment. */
static lex_state lex_left_delim(lexer *l) {
    l->pos += 2;
    int trim = has_left_trim(l, l->pos);
    size_t after = trim ? 2 : 0;
    if (at(l, l->pos + after, "/*")) {
        l->pos += after;
        lex_ignore(l);
        return lex_comment(l);
    }
    lex_emit(l, T_LEFT);
    l->pos += after;
    lex_ignore(l);
    l->paren_depth = 0;
    return S_INSIDE;
}

/* "}}" or " -}}", which trims the white space that follows. */
static lex_state lex_right_delim(lexer *l) {
    int trim;
    at_right_delim(l, &trim);
    if (trim) {
        l->pos += 2;
        lex_ignore(l);
    }
    l->pos += 2;
    lex_emit(l, T_RIGHT);
    if (trim) {
        while (l->pos < l->n && is_space_byte((unsigned char)l->in[l->pos])) l->pos++;
        lex_ignore(l);
    }
    return S_TEXT;
}

/* A run of spaces; a " -}}" ending it is left for the right delimiter. */
static lex_state lex_space(lexer *l) {
    size_t count = 0;
    while (l->pos < l->n && is_space_byte((unsigned char)l->in[l->pos])) {
        l->pos++;
        count++;
    }
    if (has_right_trim(l, l->pos - 1) && at(l, l->pos + 1, "}}")) {
        l->pos--;
        if (count == 1) return lex_right_delim(l);
    }
    lex_emit(l, T_SPACE);
    return S_INSIDE;
}

/* A keyword, true/false or a function name; it must be followed by a
 * terminator (so "$x+2" is an error, as in Go). */
static lex_state lex_identifier(lexer *l) {
    for (;;) {
        size_t w;
        uint32_t r = lex_peek_rune(l, &w);
        if (!w || !lex_is_alnum(l, r)) break;
        l->pos += w;
    }
    if (!at_terminator(l)) {
        size_t w;
        return lex_error_rune(l, "bad character ", lex_peek_rune(l, &w));
    }
    static const struct { const char *word; tok_type type; } keywords[] = {
        {"block", T_BLOCK}, {"break", T_BREAK}, {"continue", T_CONTINUE}, {"define", T_DEFINE},
        {"else", T_ELSE},   {"end", T_END},     {"if", T_IF},             {"nil", T_NIL},
        {"range", T_RANGE}, {"template", T_TEMPLATE}, {"with", T_WITH},
    };
    const char *word = l->in + l->start;
    size_t n = l->pos - l->start;
    for (size_t i = 0; i < sizeof keywords / sizeof keywords[0]; i++)
        if (strlen(keywords[i].word) == n && memcmp(keywords[i].word, word, n) == 0) {
            lex_emit(l, keywords[i].type);
            return S_INSIDE;
        }
    if ((n == 4 && memcmp(word, "true", 4) == 0) || (n == 5 && memcmp(word, "false", 5) == 0)) lex_emit(l, T_BOOL);
    else lex_emit(l, T_IDENT);
    return S_INSIDE;
}

/* .Field or $variable, the . or $ consumed; alone they are the dot and $. */
static lex_state lex_field_or_variable(lexer *l, tok_type type) {
    if (at_terminator(l)) {
        lex_emit(l, type == T_VARIABLE ? T_VARIABLE : T_DOT);
        return S_INSIDE;
    }
    for (;;) {
        size_t w;
        uint32_t r = lex_peek_rune(l, &w);
        if (!w || !lex_is_alnum(l, r)) break;
        l->pos += w;
    }
    if (!at_terminator(l)) {
        size_t w;
        return lex_error_rune(l, "bad character ", lex_peek_rune(l, &w));
    }
    lex_emit(l, type);
    return S_INSIDE;
}

/* A quoted literal ending with quote (the opening one consumed); syntax is
 * checked by the parser. */
static lex_state lex_quoted(lexer *l, char quote, tok_type type, const char *unterminated) {
    for (;;) {
        if (l->pos >= l->n) return lex_errorf(l, "%s", unterminated);
        char c = l->in[l->pos++];
        if (c == '\\' && quote != '`') {
            if (l->pos < l->n && l->in[l->pos] != '\n') {
                l->pos++;
                continue;
            }
            return lex_errorf(l, "%s", unterminated);
        }
        if (c == '\n' && quote != '`') return lex_errorf(l, "%s", unterminated);
        if (c == quote) break;
    }
    lex_emit(l, type);
    return S_INSIDE;
}

static int lex_accept(lexer *l, const char *valid) {
    if (l->pos < l->n && l->in[l->pos] && strchr(valid, l->in[l->pos])) {
        l->pos++;
        return 1;
    }
    return 0;
}

static void lex_accept_run(lexer *l, const char *valid) {
    while (lex_accept(l, valid)) {}
}

/* Go's scanNumber: deliberately loose; strconv judges the text later. */
static int lex_scan_number(lexer *l) {
    lex_accept(l, "+-");
    const char *digits = "0123456789_";
    if (lex_accept(l, "0")) {
        if (lex_accept(l, "xX")) digits = "0123456789abcdefABCDEF_";
        else if (lex_accept(l, "oO")) digits = "01234567_";
        else if (lex_accept(l, "bB")) digits = "01_";
    }
    lex_accept_run(l, digits);
    if (lex_accept(l, ".")) lex_accept_run(l, digits);
    if (strlen(digits) == 11 && lex_accept(l, "eE")) {
        lex_accept(l, "+-");
        lex_accept_run(l, "0123456789_");
    }
    if (strlen(digits) == 23 && lex_accept(l, "pP")) {
        lex_accept(l, "+-");
        lex_accept_run(l, "0123456789_");
    }
    lex_accept(l, "i");
    size_t w;
    uint32_t r = lex_peek_rune(l, &w);
    if (w && lex_is_alnum(l, r)) {
        l->pos += w;
        return 0;
    }
    return 1;
}

/* A number, or a complex constant (rejected later by the parser). */
static lex_state lex_number(lexer *l) {
    if (!lex_scan_number(l)) return lex_error_quoted(l, "bad number syntax: ", l->in + l->start, l->pos - l->start);
    if (l->pos < l->n && (l->in[l->pos] == '+' || l->in[l->pos] == '-')) {
        if (!lex_scan_number(l) || l->in[l->pos - 1] != 'i')
            return lex_error_quoted(l, "bad number syntax: ", l->in + l->start, l->pos - l->start);
        lex_emit(l, T_COMPLEX);
    } else {
        lex_emit(l, T_NUMBER);
    }
    return S_INSIDE;
}

/* One token inside an action. */
static lex_state lex_inside(lexer *l) {
    int trim;
    if (at_right_delim(l, &trim)) {
        if (l->paren_depth == 0) return lex_right_delim(l);
        return lex_errorf(l, "unclosed left paren");
    }
    if (l->pos >= l->n) return lex_errorf(l, "unclosed action");
    unsigned char c = (unsigned char)l->in[l->pos];
    if (is_space_byte(c)) return lex_space(l);
    size_t w;
    uint32_t r = lex_peek_rune(l, &w);
    l->pos += w;
    switch (c) {
    case '=': lex_emit(l, T_ASSIGN); return S_INSIDE;
    case ':':
        if (l->pos < l->n && l->in[l->pos++] == '=') {
            lex_emit(l, T_DECLARE);
            return S_INSIDE;
        }
        return lex_errorf(l, "expected :=");
    case '|': lex_emit(l, T_PIPE); return S_INSIDE;
    case '"': return lex_quoted(l, '"', T_STRING, "unterminated quoted string");
    case '`': return lex_quoted(l, '`', T_RAWSTRING, "unterminated raw quoted string");
    case '\'': return lex_quoted(l, '\'', T_CHARCONST, "unterminated character constant");
    case '$': return lex_field_or_variable(l, T_VARIABLE);
    case '.':
        if (l->pos < l->n && !(l->in[l->pos] >= '0' && l->in[l->pos] <= '9')) return lex_field_or_variable(l, T_FIELD);
        l->pos--;
        return lex_number(l);
    case '(':
        l->paren_depth++;
        lex_emit(l, T_LPAREN);
        return S_INSIDE;
    case ')':
        if (--l->paren_depth < 0) return lex_error_rune(l, "unexpected right paren ", r);
        lex_emit(l, T_RPAREN);
        return S_INSIDE;
    }
    if (c == '+' || c == '-' || (c >= '0' && c <= '9')) {
        l->pos -= w;
        return lex_number(l);
    }
    if (lex_is_alnum(l, r)) {
        l->pos -= w;
        return lex_identifier(l);
    }
    if (r < 0x80 && rune_is_print(r, l->loc)) {
        lex_emit(l, T_CHAR);
        return S_INSIDE;
    }
    return lex_error_rune(l, "unrecognized character in action: ", r);
}

/* Tokenizes the whole text; the last token is T_EOF or T_ERROR. */
static void lex_all(lexer *l) {
    lex_state s = S_TEXT;
    while (s != S_DONE) s = s == S_TEXT ? lex_text(l) : lex_inside(l);
}

/* ------------------------------------------------------------ parse tree */

typedef enum {
    N_LIST, N_TEXT, N_ACTION, N_IF, N_RANGE, N_WITH, N_TEMPLATE, N_BREAK, N_CONTINUE, N_END, N_ELSE,
    N_PIPE, N_COMMAND, N_FIELD, N_VARIABLE, N_CHAIN, N_IDENT, N_DOT, N_NIL, N_BOOL, N_NUMBER, N_STRING,
} node_type;

typedef struct {
    const char *p;
    size_t n;
} str_ref;

typedef struct node node;
typedef struct func_def func_def;
typedef struct exec_state exec_state;

typedef struct {
    node **v;
    size_t n, cap;
} node_vec;

struct node {
    node_type type;
    size_t pos;                 /* byte offset in the template's text */
    union {
        node_vec list;                                         /* N_LIST */
        str_ref text;                                          /* N_TEXT */
        node *action;                                          /* N_ACTION: its pipeline */
        struct { node *pipe, *list, *else_list; } ctl;         /* N_IF, N_RANGE, N_WITH */
        struct { str_ref name; node *pipe; } call;             /* N_TEMPLATE */
        struct { node_vec decl, cmds; int is_assign; } pipe;   /* N_PIPE */
        node_vec args;                                         /* N_COMMAND */
        struct { str_ref *idents; size_t n; } field;           /* N_FIELD: names; N_VARIABLE: "$x", names */
        struct { node *term; str_ref *fields; size_t n; } chain;
        struct { str_ref name; const func_def *fn; } ident;
        struct { str_ref text; const tmpl_value *value; int is_int, is_uint, is_float; int64_t i; double f; } num;
        struct { str_ref quoted; const tmpl_value *value; } str;
        const tmpl_value *bool_value;
    } u;
};

/* One named template: the main one or a {{define}} / {{block}}. */
typedef struct {
    str_ref name;
    const char *parse_name;     /* the name of the parse it came from */
    const char *text;           /* that parse's text, for positions */
    node *root;
} tree;

struct tmpl {
    char *name;
    char *text;
    size_t len;
    tree **trees;               /* main and definitions */
    size_t ntrees;
    const tree *main;
    const tmpl *defs;
    unsigned funcs;
    tmpl_data *arena;           /* nodes, trees, names, constants */
    locale_t loc;
};

/* Writes a node as Go's Node.String() does (error contexts). */
static void node_string(buf *b, const node *n, locale_t loc) {
    switch (n->type) {
    case N_LIST:
        for (size_t i = 0; i < n->u.list.n; i++) node_string(b, n->u.list.v[i], loc);
        break;
    case N_TEXT: buf_append(b, n->u.text.p, n->u.text.n); break;
    case N_ACTION:
        buf_append(b, "{{", 2);
        node_string(b, n->u.action, loc);
        buf_append(b, "}}", 2);
        break;
    case N_IF: case N_RANGE: case N_WITH:
        buf_printf(b, "{{%s ", n->type == N_IF ? "if" : n->type == N_RANGE ? "range" : "with");
        node_string(b, n->u.ctl.pipe, loc);
        buf_append(b, "}}", 2);
        node_string(b, n->u.ctl.list, loc);
        if (n->u.ctl.else_list) {
            buf_append(b, "{{else}}", 8);
            node_string(b, n->u.ctl.else_list, loc);
        }
        buf_append(b, "{{end}}", 7);
        break;
    case N_TEMPLATE:
        buf_append(b, "{{template ", 11);
        go_quote(b, n->u.call.name.p, n->u.call.name.n, 0, loc);
        if (n->u.call.pipe) {
            buf_append(b, " ", 1);
            node_string(b, n->u.call.pipe, loc);
        }
        buf_append(b, "}}", 2);
        break;
    case N_BREAK: buf_append(b, "{{break}}", 9); break;
    case N_CONTINUE: buf_append(b, "{{continue}}", 12); break;
    case N_END: buf_append(b, "{{end}}", 7); break;
    case N_ELSE: buf_append(b, "{{else}}", 8); break;
    case N_PIPE:
        for (size_t i = 0; i < n->u.pipe.decl.n; i++) {
            if (i) buf_append(b, ", ", 2);
            node_string(b, n->u.pipe.decl.v[i], loc);
        }
        if (n->u.pipe.decl.n) buf_printf(b, " %s ", n->u.pipe.is_assign ? "=" : ":=");
        for (size_t i = 0; i < n->u.pipe.cmds.n; i++) {
            if (i) buf_append(b, " | ", 3);
            node_string(b, n->u.pipe.cmds.v[i], loc);
        }
        break;
    case N_COMMAND:
        for (size_t i = 0; i < n->u.args.n; i++) {
            if (i) buf_append(b, " ", 1);
            const node *a = n->u.args.v[i];
            if (a->type == N_PIPE) buf_append(b, "(", 1);
            node_string(b, a, loc);
            if (a->type == N_PIPE) buf_append(b, ")", 1);
        }
        break;
    case N_FIELD:
        for (size_t i = 0; i < n->u.field.n; i++) {
            buf_append(b, ".", 1);
            buf_append(b, n->u.field.idents[i].p, n->u.field.idents[i].n);
        }
        break;
    case N_VARIABLE:
        for (size_t i = 0; i < n->u.field.n; i++) {
            if (i) buf_append(b, ".", 1);
            buf_append(b, n->u.field.idents[i].p, n->u.field.idents[i].n);
        }
        break;
    case N_CHAIN:
        if (n->u.chain.term->type == N_PIPE) buf_append(b, "(", 1);
        node_string(b, n->u.chain.term, loc);
        if (n->u.chain.term->type == N_PIPE) buf_append(b, ")", 1);
        for (size_t i = 0; i < n->u.chain.n; i++) {
            buf_append(b, ".", 1);
            buf_append(b, n->u.chain.fields[i].p, n->u.chain.fields[i].n);
        }
        break;
    case N_IDENT: buf_append(b, n->u.ident.name.p, n->u.ident.name.n); break;
    case N_DOT: buf_append(b, ".", 1); break;
    case N_NIL: buf_append(b, "nil", 3); break;
    case N_BOOL: buf_printf(b, "%s", n->u.bool_value->u.b ? "true" : "false"); break;
    case N_NUMBER: buf_append(b, n->u.num.text.p, n->u.num.text.n); break;
    case N_STRING: buf_append(b, n->u.str.quoted.p, n->u.str.quoted.n); break;
    }
}

/* node_string() into a fixed array (messages). */
static const char *node_text(const node *n, locale_t loc, char *out, size_t cap) {
    buf b = {0};
    node_string(&b, n, loc);
    size_t k = b.len < cap - 1 ? b.len : cap - 1;
    if (k) memcpy(out, b.data, k);
    out[k] = 0;
    buf_free(&b);
    return out;
}

/* Go's IsEmptyTree: nothing but whitespace text. */
static int tree_is_empty(const node *n) {
    if (!n) return 1;
    if (n->type == N_LIST) {
        for (size_t i = 0; i < n->u.list.n; i++)
            if (!tree_is_empty(n->u.list.v[i])) return 0;
        return 1;
    }
    if (n->type == N_TEXT) {
        for (size_t i = 0; i < n->u.text.n; i++)
            if (!is_space_byte((unsigned char)n->u.text.p[i]) && n->u.text.p[i] != '\v' && n->u.text.p[i] != '\f')
                return 0;
        return 1;
    }
    return 0;
}

static const func_def *find_func(const char *name, size_t len, unsigned funcs);

/* ------------------------------------------------------------ parser */

typedef struct {
    token *toks;
    size_t ntoks;
    size_t i;                 /* next token */
    size_t max_read;          /* furthest token read: its line goes in messages */
    tmpl *t;
    str_ref *vars;            /* variables in scope: vars[var_base..nvars) */
    size_t nvars, capvars, var_base;
    int range_depth;
    int action_line;          /* line of the action being parsed, 0 outside */
    unsigned depth;
    errbuf *err;
    jmp_buf jmp;
} parser;

static _Noreturn void parse_errorf(parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static _Noreturn void parse_errorf(parser *p, const char *fmt, ...) {
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    errf(p->err, "template: %s:%d: %s", p->t->name, p->toks[p->max_read].line, msg);
    longjmp(p->jmp, 1);
}

static const token *next_tok(parser *p) {
    size_t k = p->i < p->ntoks ? p->i : p->ntoks - 1;
    if (k > p->max_read) p->max_read = k;
    p->i++;
    return &p->toks[k];
}

static void backup(parser *p) { p->i--; }

static const token *peek_tok(parser *p) {
    const token *t = next_tok(p);
    backup(p);
    return t;
}

static const token *next_non_space(parser *p) {
    const token *t;
    do t = next_tok(p);
    while (t->type == T_SPACE);
    return t;
}

static const token *peek_non_space(parser *p) {
    const token *t = next_non_space(p);
    backup(p);
    return t;
}

/* How Go's item.String() spells a token in "unexpected X in Y". */
static void tok_string(buf *b, const token *t, locale_t loc) {
    if (t->type == T_EOF) buf_append(b, "EOF", 3);
    else if (t->type == T_ERROR) buf_append(b, t->val, t->len);
    else if (t->type > T_KEYWORD) buf_printf(b, "<%.*s>", (int)t->len, t->val);
    else if (utf8_count(t->val, t->len) > 10) {
        go_quote(b, t->val, utf8_prefix(t->val, t->len, 10), 0, loc);
        buf_append(b, "...", 3);
    } else {
        go_quote(b, t->val, t->len, 0, loc);
    }
}

/* Go's Tree.unexpected: a lexer error is reported as itself (with where a
 * multi-line action started), anything else as "unexpected X in CONTEXT". */
static _Noreturn void unexpected(parser *p, const token *t, const char *context) {
    buf b = {0};
    tok_string(&b, t, p->t->loc);
    buf_append(&b, "", 1);
    char msg[300];
    snprintf(msg, sizeof msg, "%s", (char *)b.data);
    buf_free(&b);
    if (t->type == T_ERROR) {
        char extra[200] = "";
        if (p->action_line != 0 && p->action_line != t->line) {
            size_t n = strlen(msg);
            int action = n >= 7 && strcmp(msg + n - 7, " action") == 0;
            snprintf(extra, sizeof extra, "%s started at %s:%d", action ? "" : " in action", p->t->name, p->action_line);
        }
        parse_errorf(p, "%s%s", msg, extra);
    }
    parse_errorf(p, "unexpected %s in %s", msg, context);
}

static const token *expect(parser *p, tok_type type, const char *context) {
    const token *t = next_non_space(p);
    if (t->type != type) unexpected(p, t, context);
    return t;
}

static node *new_node(parser *p, node_type type, size_t pos) {
    node *n = arena_alloc(p->t->arena, sizeof *n);
    memset(n, 0, sizeof *n);
    n->type = type;
    n->pos = pos;
    return n;
}

static void vec_push(tmpl_data *d, node_vec *v, node *n) {
    if (v->n == v->cap) {
        size_t cap = v->cap ? 2 * v->cap : 4;
        node **items = arena_alloc(d, cap * sizeof *items);
        if (v->n) memcpy(items, v->v, v->n * sizeof *items);
        v->v = items;
        v->cap = cap;
    }
    v->v[v->n++] = n;
}

static void push_var(parser *p, const char *name, size_t len) {
    if (p->nvars == p->capvars) {
        p->capvars = p->capvars ? 2 * p->capvars : 16;
        p->vars = xrealloc(p->vars, p->capvars * sizeof *p->vars);
    }
    p->vars[p->nvars++] = (str_ref){name, len};
}

/* Splits "$x.A.B" or ".A.B" into its names (a variable keeps its $name). */
static void split_idents(parser *p, node *n, const char *s, size_t len) {
    size_t count = 1;
    for (size_t i = 1; i < len; i++) count += s[i] == '.';
    str_ref *ids = arena_alloc(p->t->arena, count * sizeof *ids);
    size_t k = 0, start = s[0] == '.' ? 1 : 0;
    for (size_t i = start; i <= len; i++)
        if (i == len || (s[i] == '.' && i > start)) {
            ids[k++] = (str_ref){s + start, i - start};
            start = i + 1;
        }
    n->u.field.idents = ids;
    n->u.field.n = k;
}

static node *new_field_or_variable(parser *p, node_type type, size_t pos, const char *s, size_t len) {
    node *n = new_node(p, type, pos);
    split_idents(p, n, s, len);
    return n;
}

/* A reference to a declared variable. */
static node *use_var(parser *p, const token *t) {
    node *v = new_field_or_variable(p, N_VARIABLE, t->pos, t->val, t->len);
    str_ref name = v->u.field.idents[0];
    for (size_t i = p->var_base; i < p->nvars; i++)
        if (p->vars[i].n == name.n && memcmp(p->vars[i].p, name.p, name.n) == 0) return v;
    buf b = {0};
    go_quote(&b, name.p, name.n, 0, p->t->loc);
    buf_append(&b, "", 1);
    char q[200];
    snprintf(q, sizeof q, "%s", (char *)b.data);
    buf_free(&b);
    parse_errorf(p, "undefined variable %s", q);
}

/* Go's parse.NumberNode: which of int, uint and float the text is. */
static node *new_number(parser *p, const token *t) {
    node *n = new_node(p, N_NUMBER, t->pos);
    n->u.num.text = (str_ref){t->val, t->len};
    const char *s = t->val;
    size_t len = t->len;
    char q[160];
    {
        buf b = {0};
        go_quote(&b, s, len, 0, p->t->loc);
        buf_append(&b, "", 1);
        snprintf(q, sizeof q, "%s", (char *)b.data);
        buf_free(&b);
    }
    if (t->type == T_CHARCONST) {
        uint32_t r;
        int multibyte;
        size_t w = len >= 2 ? unquote_char(s + 1, len - 1, '\'', &r, &multibyte) : 0;
        if (w == 0) parse_errorf(p, "invalid syntax");
        if (1 + w + 1 != len || s[len - 1] != '\'') parse_errorf(p, "malformed character constant: %.*s", (int)len, s);
        n->u.num.is_int = n->u.num.is_uint = n->u.num.is_float = 1;
        n->u.num.i = r;
        n->u.num.f = r;
        n->u.num.value = tmpl_int(p->t->arena, r);
        return n;
    }
    if (t->type == T_COMPLEX || (len && s[len - 1] == 'i')) parse_errorf(p, "illegal number syntax: %s", q);
    uint64_t u;
    int64_t i;
    if (go_parse_uint(s, len, &u) == 0) n->u.num.is_uint = 1;
    if (go_parse_int(s, len, &i) == 0) {
        n->u.num.is_int = 1;
        n->u.num.i = i;
    }
    if (n->u.num.is_int) {
        n->u.num.is_float = 1;
        n->u.num.f = (double)n->u.num.i;
    } else if (n->u.num.is_uint) {
        n->u.num.is_float = 1;
        n->u.num.f = (double)u;
    } else {
        double f;
        if (go_parse_float(s, len, &f) == 0) {
            int looks_float = 0;
            for (size_t k = 0; k < len; k++)
                if (strchr(".eEpP", s[k])) looks_float = 1;
            if (!looks_float) parse_errorf(p, "integer overflow: %s", q);
            n->u.num.is_float = 1;
            n->u.num.f = f;
            if (f >= -9223372036854775808.0 && f < 9223372036854775808.0 && (double)(int64_t)f == f) {
                n->u.num.is_int = 1;
                n->u.num.i = (int64_t)f;
            }
        }
    }
    if (!n->u.num.is_int && !n->u.num.is_uint && !n->u.num.is_float) parse_errorf(p, "illegal number syntax: %s", q);
    /* The value the constant has where any type is accepted (idealConstant). */
    int hex_int = len >= 2 && s[0] == '0' && (s[1] | 0x20) == 'x' && !memchr(s, '.', len) && !memchr(s, 'p', len) &&
                  !memchr(s, 'P', len);
    int float_text = 0;
    for (size_t k = 0; k < len; k++)
        if (strchr(".eEpP", s[k])) float_text = 1;
    if (n->u.num.is_float && !hex_int && float_text) n->u.num.value = tmpl_float(p->t->arena, n->u.num.f);
    else if (n->u.num.is_int) n->u.num.value = tmpl_int(p->t->arena, n->u.num.i);
    /* else: a uint beyond int64; using it as a value is an execution error */
    return n;
}

/* A string constant; its value is made once, at parse time. */
static node *new_string(parser *p, const token *t) {
    buf b = {0};
    if (go_unquote(t->val, t->len, &b) != 0) {
        buf_free(&b);
        parse_errorf(p, "invalid syntax");
    }
    node *n = new_node(p, N_STRING, t->pos);
    n->u.str.quoted = (str_ref){t->val, t->len};
    const char *s = arena_strndup(p->t->arena, b.len ? (const char *)b.data : "", b.len);
    n->u.str.value = tmpl_string(p->t->arena, s, b.len);
    buf_free(&b);
    return n;
}

static node *parse_pipeline(parser *p, const char *context, tok_type end);
static node *parse_if(parser *p);
static node *item_list(parser *p, node **end);

/* term: a literal, a function, ., .Field, $x, or ( pipeline ). */
static node *parse_term(parser *p) {
    const token *t = next_non_space(p);
    switch (t->type) {
    case T_IDENT: {
        const func_def *fn = find_func(t->val, t->len, p->t->funcs);
        if (!fn) {
            buf b = {0};
            go_quote(&b, t->val, t->len, 0, p->t->loc);
            buf_append(&b, "", 1);
            char q[200];
            snprintf(q, sizeof q, "%s", (char *)b.data);
            buf_free(&b);
            parse_errorf(p, "function %s not defined", q);
        }
        node *n = new_node(p, N_IDENT, t->pos);
        n->u.ident.name = (str_ref){t->val, t->len};
        n->u.ident.fn = fn;
        return n;
    }
    case T_DOT: return new_node(p, N_DOT, t->pos);
    case T_NIL: return new_node(p, N_NIL, t->pos);
    case T_VARIABLE: return use_var(p, t);
    case T_FIELD: return new_field_or_variable(p, N_FIELD, t->pos, t->val, t->len);
    case T_BOOL: {
        node *n = new_node(p, N_BOOL, t->pos);
        n->u.bool_value = tmpl_bool(t->val[0] == 't');
        return n;
    }
    case T_CHARCONST: case T_COMPLEX: case T_NUMBER: return new_number(p, t);
    case T_LPAREN: {
        if (++p->depth > MAX_PARSE_DEPTH) parse_errorf(p, "max expression depth exceeded");
        node *n = parse_pipeline(p, "parenthesized pipeline", T_RPAREN);
        p->depth--;
        return n;
    }
    case T_STRING: case T_RAWSTRING: return new_string(p, t);
    default: backup(p); return NULL;
    }
}

/* operand: a term followed by .Field accesses. */
static node *parse_operand(parser *p) {
    node *term = parse_term(p);
    if (!term) return NULL;
    if (peek_tok(p)->type != T_FIELD) return term;
    size_t pos = peek_tok(p)->pos;
    size_t nfields = 0, cap = 4;
    str_ref *fields = arena_alloc(p->t->arena, cap * sizeof *fields);
    while (peek_tok(p)->type == T_FIELD) {
        const token *f = next_tok(p);
        if (nfields == cap) {
            str_ref *more = arena_alloc(p->t->arena, 2 * cap * sizeof *more);
            memcpy(more, fields, nfields * sizeof *more);
            fields = more;
            cap *= 2;
        }
        fields[nfields++] = (str_ref){f->val + 1, f->len - 1};
    }
    switch (term->type) {
    case N_FIELD: case N_VARIABLE: {
        size_t n = term->u.field.n + nfields;
        str_ref *ids = arena_alloc(p->t->arena, n * sizeof *ids);
        memcpy(ids, term->u.field.idents, term->u.field.n * sizeof *ids);
        memcpy(ids + term->u.field.n, fields, nfields * sizeof *ids);
        term->u.field.idents = ids;
        term->u.field.n = n;
        term->pos = pos;
        return term;
    }
    case N_BOOL: case N_STRING: case N_NUMBER: case N_NIL: case N_DOT: {
        char text[200];
        node_text(term, p->t->loc, text, sizeof text);
        buf b = {0};
        go_quote(&b, text, strlen(text), 0, p->t->loc);
        buf_append(&b, "", 1);
        char q[250];
        snprintf(q, sizeof q, "%s", (char *)b.data);
        buf_free(&b);
        parse_errorf(p, "unexpected . after term %s", q);
    }
    default: {
        node *chain = new_node(p, N_CHAIN, pos);
        chain->u.chain.term = term;
        chain->u.chain.fields = fields;
        chain->u.chain.n = nfields;
        return chain;
    }
    }
}

/* command: operands separated by spaces, up to | or the end. */
static node *parse_command(parser *p) {
    node *cmd = new_node(p, N_COMMAND, peek_non_space(p)->pos);
    for (;;) {
        peek_non_space(p);
        node *op = parse_operand(p);
        if (op) vec_push(p->t->arena, &cmd->u.args, op);
        const token *t = next_tok(p);
        if (t->type == T_SPACE) continue;
        if (t->type == T_RIGHT || t->type == T_RPAREN) backup(p);
        else if (t->type != T_PIPE) unexpected(p, t, "operand");
        break;
    }
    if (cmd->u.args.n == 0) parse_errorf(p, "empty command");
    return cmd;
}

/* Go's checkPipeline: no empty pipelines, and only the first command may
 * be a constant. */
static void check_pipeline(parser *p, node *pipe, const char *context) {
    if (pipe->u.pipe.cmds.n == 0) parse_errorf(p, "missing value for %s", context);
    for (size_t i = 1; i < pipe->u.pipe.cmds.n; i++) {
        switch (pipe->u.pipe.cmds.v[i]->u.args.v[0]->type) {
        case N_BOOL: case N_DOT: case N_NIL: case N_NUMBER: case N_STRING:
            parse_errorf(p, "non executable command in pipeline stage %zu", i + 1);
        default: break;
        }
    }
}

/* pipeline: optional declarations, then commands separated by |. */
static node *parse_pipeline(parser *p, const char *context, tok_type end) {
    node *pipe = new_node(p, N_PIPE, peek_non_space(p)->pos);
    int is_range = strcmp(context, "range") == 0;
    for (;;) {
        const token *v = peek_non_space(p);
        if (v->type != T_VARIABLE) break;
        size_t at_var = p->i;
        next_tok(p);
        const token *next = peek_non_space(p);
        if (next->type == T_ASSIGN || next->type == T_DECLARE) {
            pipe->u.pipe.is_assign = next->type == T_ASSIGN;
            next_non_space(p);
            vec_push(p->t->arena, &pipe->u.pipe.decl, new_field_or_variable(p, N_VARIABLE, v->pos, v->val, v->len));
            push_var(p, v->val, v->len);
            break;
        }
        if (next->type == T_CHAR && next->len == 1 && next->val[0] == ',') {
            next_non_space(p);
            vec_push(p->t->arena, &pipe->u.pipe.decl, new_field_or_variable(p, N_VARIABLE, v->pos, v->val, v->len));
            push_var(p, v->val, v->len);
            if (is_range && pipe->u.pipe.decl.n < 2) {
                tok_type ty = peek_non_space(p)->type;
                if (ty == T_VARIABLE || ty == T_RIGHT || ty == T_RPAREN) continue;
                parse_errorf(p, "range can only initialize variables");
            }
            parse_errorf(p, "too many declarations in %s", context);
        }
        p->i = at_var;
        break;
    }
    for (;;) {
        const token *t = next_non_space(p);
        if (t->type == end) {
            check_pipeline(p, pipe, context);
            return pipe;
        }
        switch (t->type) {
        case T_BOOL: case T_CHARCONST: case T_COMPLEX: case T_DOT: case T_FIELD: case T_IDENT: case T_NUMBER:
        case T_NIL: case T_RAWSTRING: case T_STRING: case T_VARIABLE: case T_LPAREN:
            backup(p);
            vec_push(p->t->arena, &pipe->u.pipe.cmds, parse_command(p));
            break;
        default: unexpected(p, t, context);
        }
    }
}

/* if / range / with: pipeline, list, optional else (or else if) list. */
static node *parse_control(parser *p, node_type type, const char *context) {
    if (++p->depth > MAX_PARSE_DEPTH) parse_errorf(p, "max expression depth exceeded");
    size_t saved_vars = p->nvars;
    node *pipe = parse_pipeline(p, context, T_RIGHT);
    node *n = new_node(p, type, pipe->pos);
    n->u.ctl.pipe = pipe;
    if (type == N_RANGE) p->range_depth++;
    node *next;
    n->u.ctl.list = item_list(p, &next);
    if (type == N_RANGE) p->range_depth--;
    if (next->type == N_ELSE) {
        if (type == N_IF && peek_tok(p)->type == T_IF) {
            next_tok(p);
            node *list = new_node(p, N_LIST, next->pos);
            vec_push(p->t->arena, &list->u.list, parse_if(p));
            n->u.ctl.else_list = list;
        } else {
            n->u.ctl.else_list = item_list(p, &next);
            if (next->type != N_END) {
                char text[200];
                parse_errorf(p, "expected end; found %s", node_text(next, p->t->loc, text, sizeof text));
            }
        }
    }
    p->nvars = saved_vars;
    p->depth--;
    return n;
}

static node *parse_if(parser *p) { return parse_control(p, N_IF, "if"); }

/* The quoted name after define, block and template. */
static str_ref parse_template_name(parser *p, const token *t, const char *context) {
    if (t->type != T_STRING && t->type != T_RAWSTRING) unexpected(p, t, context);
    buf b = {0};
    if (go_unquote(t->val, t->len, &b) != 0) {
        buf_free(&b);
        parse_errorf(p, "invalid syntax");
    }
    str_ref name = {arena_strndup(p->t->arena, b.len ? (const char *)b.data : "", b.len), b.len};
    buf_free(&b);
    return name;
}

static const tree *find_tree(const tmpl *t, const char *name, size_t len) {
    for (size_t i = 0; i < t->ntrees; i++)
        if (t->trees[i]->name.n == len && memcmp(t->trees[i]->name.p, name, len) == 0) return t->trees[i];
    return NULL;
}

/* Go's Tree.add: a definition replaces an empty one; two non-empty ones
 * with the same name are an error. */
static void add_tree(parser *p, tree *tr) {
    tmpl *t = p->t;
    for (size_t i = 0; i < t->ntrees; i++) {
        tree *old = t->trees[i];
        if (old->name.n != tr->name.n || memcmp(old->name.p, tr->name.p, tr->name.n) != 0) continue;
        if (tree_is_empty(old->root)) t->trees[i] = tr;
        else if (!tree_is_empty(tr->root)) {
            buf b = {0};
            go_quote(&b, tr->name.p, tr->name.n, 0, t->loc);
            buf_append(&b, "", 1);
            char q[200];
            snprintf(q, sizeof q, "%s", (char *)b.data);
            buf_free(&b);
            parse_errorf(p, "template: multiple definition of template %s", q);
        }
        return;
    }
    tree **trees = arena_alloc(t->arena, (t->ntrees + 1) * sizeof *trees);
    if (t->ntrees) memcpy(trees, t->trees, t->ntrees * sizeof *trees);
    trees[t->ntrees++] = tr;
    t->trees = trees;
}

/* The body of a {{define}} or {{block}}: a tree of its own with its own
 * variables. */
static tree *parse_sub_tree(parser *p, str_ref name, const char *context) {
    tree *tr = arena_alloc(p->t->arena, sizeof *tr);
    tr->name = name;
    tr->parse_name = p->t->name;
    tr->text = p->t->text;
    size_t saved_base = p->var_base, saved_n = p->nvars;
    int saved_range = p->range_depth;
    p->var_base = p->nvars;
    p->range_depth = 0;
    push_var(p, "$", 1);
    node *end;
    tr->root = item_list(p, &end);
    if (end->type != N_END) {
        char text[200];
        parse_errorf(p, "unexpected %s in %s", node_text(end, p->t->loc, text, sizeof text), context);
    }
    p->var_base = saved_base;
    p->nvars = saved_n;
    p->range_depth = saved_range;
    return tr;
}

static void parse_definition(parser *p) {
    const char *context = "define clause";
    const token *t = next_non_space(p);
    str_ref name = parse_template_name(p, t, context);
    expect(p, T_RIGHT, context);
    add_tree(p, parse_sub_tree(p, name, context));
}

/* The keyword-led actions and the plain {{pipeline}}. */
static node *parse_action(parser *p) {
    const token *t = next_non_space(p);
    switch (t->type) {
    case T_BLOCK: {
        const char *context = "block clause";
        const token *nt = next_non_space(p);
        str_ref name = parse_template_name(p, nt, context);
        node *pipe = parse_pipeline(p, context, T_RIGHT);
        add_tree(p, parse_sub_tree(p, name, context));
        node *n = new_node(p, N_TEMPLATE, nt->pos);
        n->u.call.name = name;
        n->u.call.pipe = pipe;
        return n;
    }
    case T_BREAK: case T_CONTINUE: {
        const char *word = t->type == T_BREAK ? "{{break}}" : "{{continue}}";
        const token *r = next_non_space(p);
        if (r->type != T_RIGHT) unexpected(p, r, word);
        if (p->range_depth == 0) parse_errorf(p, "%s outside {{range}}", word);
        return new_node(p, t->type == T_BREAK ? N_BREAK : N_CONTINUE, t->pos);
    }
    case T_ELSE: {
        const token *peek = peek_non_space(p);
        if (peek->type == T_IF) return new_node(p, N_ELSE, peek->pos);
        return new_node(p, N_ELSE, expect(p, T_RIGHT, "else")->pos);
    }
    case T_END: return new_node(p, N_END, expect(p, T_RIGHT, "end")->pos);
    case T_IF: return parse_if(p);
    case T_RANGE: return parse_control(p, N_RANGE, "range");
    case T_WITH: return parse_control(p, N_WITH, "with");
    case T_TEMPLATE: {
        const char *context = "template clause";
        const token *nt = next_non_space(p);
        str_ref name = parse_template_name(p, nt, context);
        node *pipe = NULL;
        if (next_non_space(p)->type != T_RIGHT) {
            backup(p);
            pipe = parse_pipeline(p, context, T_RIGHT);
        }
        node *n = new_node(p, N_TEMPLATE, nt->pos);
        n->u.call.name = name;
        n->u.call.pipe = pipe;
        return n;
    }
    default: break;
    }
    backup(p);
    node *n = new_node(p, N_ACTION, peek_tok(p)->pos);
    n->u.action = parse_pipeline(p, "command", T_RIGHT);
    return n;
}

/* One text node or {{action}}, noting the line where the action starts
 * for error messages. */
static node *text_or_action(parser *p) {
    const token *t = next_non_space(p);
    if (t->type == T_TEXT) {
        node *n = new_node(p, N_TEXT, t->pos);
        n->u.text = (str_ref){t->val, t->len};
        return n;
    }
    if (t->type == T_LEFT) {
        int saved = p->action_line;
        p->action_line = t->line;
        node *n = parse_action(p);
        p->action_line = saved;
        return n;
    }
    unexpected(p, t, "input");
}

/* Nodes up to an {{end}} or {{else}}, which is returned in *end. */
static node *item_list(parser *p, node **end) {
    node *list = new_node(p, N_LIST, peek_non_space(p)->pos);
    while (peek_non_space(p)->type != T_EOF) {
        node *n = text_or_action(p);
        if (n->type == N_END || n->type == N_ELSE) {
            *end = n;
            return list;
        }
        vec_push(p->t->arena, &list->u.list, n);
    }
    parse_errorf(p, "unexpected EOF");
}

/* The whole text: the main tree, with the definitions taken out. */
static void parse_top(parser *p) {
    tree *main_tree = arena_alloc(p->t->arena, sizeof *main_tree);
    main_tree->name = (str_ref){p->t->name, strlen(p->t->name)};
    main_tree->parse_name = p->t->name;
    main_tree->text = p->t->text;
    main_tree->root = new_node(p, N_LIST, peek_tok(p)->pos);
    push_var(p, "$", 1);
    while (peek_tok(p)->type != T_EOF) {
        if (peek_tok(p)->type == T_LEFT) {
            size_t at_delim = p->i;
            next_tok(p);
            if (next_non_space(p)->type == T_DEFINE) {
                parse_definition(p);
                continue;
            }
            p->i = at_delim;
        }
        node *n = text_or_action(p);
        if (n->type == N_END || n->type == N_ELSE) {
            char text[200];
            parse_errorf(p, "unexpected %s", node_text(n, p->t->loc, text, sizeof text));
        }
        vec_push(p->t->arena, &main_tree->root->u.list, n);
    }
    add_tree(p, main_tree);
}

static const char alert_prefix[] = "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}"
                                   "{{$externalURL := .ExternalURL}}{{$value := .Value}}";

void tmpl_free(tmpl *t) {
    if (!t) return;
    if (t->loc) freelocale(t->loc);
    tmpl_data_free(t->arena);
    free(t->name);
    free(t->text);
    free(t);
}

/* Parses prefix + text (the prefix may be empty). */
static int parse_with_prefix(const char *name, const char *prefix, const char *text, size_t len,
                             const tmpl_options *o, tmpl **out, errbuf *err) {
    *out = NULL;
    tmpl *t = xcalloc(1, sizeof *t);
    t->name = xstrndup(name ? name : "", name ? strlen(name) : 0);
    size_t plen = strlen(prefix);
    t->len = plen + len;
    t->text = xmalloc(t->len + 1);
    memcpy(t->text, prefix, plen);
    if (len) memcpy(t->text + plen, text, len);
    t->text[t->len] = 0;
    t->arena = tmpl_data_new();
    t->loc = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
    if (o) {
        t->funcs = o->funcs;
        t->defs = o->defs;
    }
    lexer l = {.in = t->text, .n = t->len, .start_line = 1, .arena = t->arena, .loc = t->loc};
    lex_all(&l);
    /* On the heap: objects changed between setjmp and longjmp must not be
     * automatic ones. */
    parser *p = xcalloc(1, sizeof *p);
    p->toks = l.toks;
    p->ntoks = l.ntoks;
    p->t = t;
    p->err = err;
    volatile int ok = 0;
    if (setjmp(p->jmp) == 0) {
        parse_top(p);
        t->main = find_tree(t, t->name, strlen(t->name));
        ok = 1;
    }
    free(p->vars);
    free(p);
    free(l.toks);
    if (!ok) {
        tmpl_free(t);
        return -1;
    }
    *out = t;
    return 0;
}

int tmpl_parse(const char *name, const char *text, size_t len, const tmpl_options *o, tmpl **out, errbuf *err) {
    return parse_with_prefix(name, "", text, len, o, out, err);
}

int tmpl_parse_alert(const char *name, const char *text, size_t len, const tmpl_options *o, tmpl **out, errbuf *err) {
    return parse_with_prefix(name, alert_prefix, text, len, o, out, err);
}

/* ------------------------------------------------------------ maps */

/* Looks key up in a map or struct.  For a map over labels the value is
 * made in *tmp.  NULL when absent. */
static const tmpl_value *map_find(const tmpl_value *m, const char *key, size_t klen, tmpl_value *tmp) {
    if (m->by_labels) {
        size_t lo = 0, hi = m->n;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            const label *l = &m->u.labels[mid];
            int c = str_cmp(l->name, l->name_len, key, klen);
            if (c == 0) {
                *tmp = (tmpl_value){.kind = K_STRING, .n = l->value_len, .u.s = l->value};
                return tmp;
            }
            if (c < 0) lo = mid + 1;
            else hi = mid;
        }
        return NULL;
    }
    if (m->sub == M_STRUCT) {
        for (size_t i = 0; i < m->n; i++)
            if (str_cmp(m->u.entries[i].key, m->u.entries[i].key_len, key, klen) == 0) return m->u.entries[i].val;
        return NULL;
    }
    size_t lo = 0, hi = m->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = str_cmp(m->u.entries[mid].key, m->u.entries[mid].key_len, key, klen);
        if (c == 0) return m->u.entries[mid].val;
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

/* Entry i of a map in key order (a struct's in field order); a value over
 * labels is made in *tmp. */
static void map_item(const tmpl_value *m, size_t i, str_ref *key, const tmpl_value **val, tmpl_value *tmp) {
    if (m->by_labels) {
        const label *l = &m->u.labels[i];
        *key = (str_ref){l->name, l->name_len};
        *tmp = (tmpl_value){.kind = K_STRING, .n = l->value_len, .u.s = l->value};
        *val = tmp;
        return;
    }
    *key = (str_ref){m->u.entries[i].key, m->u.entries[i].key_len};
    *val = m->u.entries[i].val;
}

/* What a missing key of a map reads as: the zero value of its element
 * type (missingkey=zero). */
static const tmpl_value *map_zero(const tmpl_value *m) {
    return m->sub == TMPL_MAP_STRINGS || m->sub == TMPL_MAP_KV ? &empty_string_value : &nil_value;
}

/* ------------------------------------------------------------ time */

static const char *const month_names[] = {"January", "February", "March",     "April",   "May",      "June",
                                          "July",    "August",   "September", "October", "November", "December"};
static const char *const day_names[] = {"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"};

/* Dates: civil_from_days() and days_from_civil() of common/timeutil.h. */

/* Go's appendInt: x zero-padded to width digits. */
static void append_int(buf *b, int64_t x, int width) {
    char tmp[24];
    uint64_t u = x < 0 ? 0 - (uint64_t)x : (uint64_t)x;
    int n = 0;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (x < 0) buf_append(b, "-", 1);
    for (int i = n; i < width; i++) buf_append(b, "0", 1);
    while (n) buf_append(b, &tmp[--n], 1);
}

enum {
    STD_NONE, STD_LONG_MONTH, STD_MONTH, STD_NUM_MONTH, STD_ZERO_MONTH, STD_LONG_WEEKDAY, STD_WEEKDAY, STD_DAY,
    STD_UNDER_DAY, STD_ZERO_DAY, STD_UNDER_YEARDAY, STD_ZERO_YEARDAY, STD_HOUR, STD_HOUR12, STD_ZERO_HOUR12,
    STD_MINUTE, STD_ZERO_MINUTE, STD_SECOND, STD_ZERO_SECOND, STD_LONG_YEAR, STD_YEAR, STD_PM_UPPER, STD_PM_LOWER,
    STD_TZ, STD_ISO_TZ, STD_ISO_SECONDS_TZ, STD_ISO_SHORT_TZ, STD_ISO_COLON_TZ, STD_ISO_COLON_SECONDS_TZ,
    STD_NUM_TZ, STD_NUM_SECONDS_TZ, STD_NUM_SHORT_TZ, STD_NUM_COLON_TZ, STD_NUM_COLON_SECONDS_TZ, STD_FRAC0,
    STD_FRAC9,
};

/* Go's nextStdChunk: finds the first layout element in s[0..n).  Returns
 * its offset (n when none) and sets *std, *len and, for fractional
 * seconds, *digits and *sep. */
static size_t next_std_chunk(const char *s, size_t n, int *std, size_t *len, int *digits, char *sep) {
#define HAS(i, lit) ((n) - (i) >= sizeof(lit) - 1 && memcmp(s + (i), lit, sizeof(lit) - 1) == 0)
    for (size_t i = 0; i < n; i++) {
        switch (s[i]) {
        case 'J':
            if (HAS(i, "Jan")) {
                if (HAS(i, "January")) { *std = STD_LONG_MONTH; *len = 7; return i; }
                if (!(i + 3 < n && s[i + 3] >= 'a' && s[i + 3] <= 'z')) { *std = STD_MONTH; *len = 3; return i; }
            }
            break;
        case 'M':
            if (HAS(i, "Mon")) {
                if (HAS(i, "Monday")) { *std = STD_LONG_WEEKDAY; *len = 6; return i; }
                if (!(i + 3 < n && s[i + 3] >= 'a' && s[i + 3] <= 'z')) { *std = STD_WEEKDAY; *len = 3; return i; }
            }
            if (HAS(i, "MST")) { *std = STD_TZ; *len = 3; return i; }
            break;
        case '0':
            if (i + 1 < n && s[i + 1] >= '1' && s[i + 1] <= '6') {
                static const int std0x[] = {STD_ZERO_MONTH, STD_ZERO_DAY, STD_ZERO_HOUR12, STD_ZERO_MINUTE,
                                            STD_ZERO_SECOND, STD_YEAR};
                *std = std0x[s[i + 1] - '1'];
                *len = 2;
                return i;
            }
            if (HAS(i, "002")) { *std = STD_ZERO_YEARDAY; *len = 3; return i; }
            break;
        case '1':
            if (HAS(i, "15")) { *std = STD_HOUR; *len = 2; return i; }
            *std = STD_NUM_MONTH; *len = 1; return i;
        case '2':
            if (HAS(i, "2006")) { *std = STD_LONG_YEAR; *len = 4; return i; }
            *std = STD_DAY; *len = 1; return i;
        case '_':
            if (i + 1 < n && s[i + 1] == '2') {
                if (HAS(i + 1, "2006")) { *std = STD_LONG_YEAR; *len = 4; return i + 1; }
                *std = STD_UNDER_DAY; *len = 2; return i;
            }
            if (HAS(i, "__2")) { *std = STD_UNDER_YEARDAY; *len = 3; return i; }
            break;
        case '3': *std = STD_HOUR12; *len = 1; return i;
        case '4': *std = STD_MINUTE; *len = 1; return i;
        case '5': *std = STD_SECOND; *len = 1; return i;
        case 'P': if (HAS(i, "PM")) { *std = STD_PM_UPPER; *len = 2; return i; } break;
        case 'p': if (HAS(i, "pm")) { *std = STD_PM_LOWER; *len = 2; return i; } break;
        case '-':
            if (HAS(i, "-070000")) { *std = STD_NUM_SECONDS_TZ; *len = 7; return i; }
            if (HAS(i, "-07:00:00")) { *std = STD_NUM_COLON_SECONDS_TZ; *len = 9; return i; }
            if (HAS(i, "-0700")) { *std = STD_NUM_TZ; *len = 5; return i; }
            if (HAS(i, "-07:00")) { *std = STD_NUM_COLON_TZ; *len = 6; return i; }
            if (HAS(i, "-07")) { *std = STD_NUM_SHORT_TZ; *len = 3; return i; }
            break;
        case 'Z':
            if (HAS(i, "Z070000")) { *std = STD_ISO_SECONDS_TZ; *len = 7; return i; }
            if (HAS(i, "Z07:00:00")) { *std = STD_ISO_COLON_SECONDS_TZ; *len = 9; return i; }
            if (HAS(i, "Z0700")) { *std = STD_ISO_TZ; *len = 5; return i; }
            if (HAS(i, "Z07:00")) { *std = STD_ISO_COLON_TZ; *len = 6; return i; }
            if (HAS(i, "Z07")) { *std = STD_ISO_SHORT_TZ; *len = 3; return i; }
            break;
        case '.': case ',':
            if (i + 1 < n && (s[i + 1] == '0' || s[i + 1] == '9')) {
                char ch = s[i + 1];
                size_t j = i + 1;
                while (j < n && s[j] == ch) j++;
                if (!(j < n && s[j] >= '0' && s[j] <= '9')) {
                    *std = ch == '0' ? STD_FRAC0 : STD_FRAC9;
                    *len = j - i;
                    *digits = (int)(j - i - 1);
                    *sep = s[i];
                    return i;
                }
            }
            break;
        }
    }
#undef HAS
    *std = STD_NONE;
    *len = 0;
    return n;
}

/* Go's Time.Format for a UTC time. */
static void time_format(buf *b, int64_t sec, int32_t nsec, const char *layout, size_t n) {
    int64_t days = sec >= 0 ? sec / 86400 : -((-(sec + 1)) / 86400) - 1;
    int64_t rem = sec - days * 86400;
    int64_t year;
    unsigned month, day;
    civil_from_days(days, &year, &month, &day);
    int hour = (int)(rem / 3600), min = (int)(rem / 60 % 60), secs = (int)(rem % 60);
    int wday = (int)(((days % 7) + 7 + 4) % 7);
    int64_t yday = days - days_from_civil(year, 1, 1) + 1;
    while (n) {
        int std, digits = 0;
        size_t len;
        char sep = '.';
        size_t at_std = next_std_chunk(layout, n, &std, &len, &digits, &sep);
        buf_append(b, layout, at_std);
        if (std == STD_NONE) break;
        layout += at_std + len;
        n -= at_std + len;
        switch (std) {
        case STD_YEAR: append_int(b, (year < 0 ? -year : year) % 100, 2); break;
        case STD_LONG_YEAR: append_int(b, year, 4); break;
        case STD_MONTH: buf_append(b, month_names[month - 1], 3); break;
        case STD_LONG_MONTH: buf_printf(b, "%s", month_names[month - 1]); break;
        case STD_NUM_MONTH: append_int(b, month, 0); break;
        case STD_ZERO_MONTH: append_int(b, month, 2); break;
        case STD_WEEKDAY: buf_append(b, day_names[wday], 3); break;
        case STD_LONG_WEEKDAY: buf_printf(b, "%s", day_names[wday]); break;
        case STD_DAY: append_int(b, day, 0); break;
        case STD_UNDER_DAY:
            if (day < 10) buf_append(b, " ", 1);
            append_int(b, day, 0);
            break;
        case STD_ZERO_DAY: append_int(b, day, 2); break;
        case STD_UNDER_YEARDAY:
            if (yday < 100) buf_append(b, yday < 10 ? "  " : " ", yday < 10 ? 2 : 1);
            append_int(b, yday, 0);
            break;
        case STD_ZERO_YEARDAY: append_int(b, yday, 3); break;
        case STD_HOUR: append_int(b, hour, 2); break;
        case STD_HOUR12: append_int(b, hour % 12 == 0 ? 12 : hour % 12, 0); break;
        case STD_ZERO_HOUR12: append_int(b, hour % 12 == 0 ? 12 : hour % 12, 2); break;
        case STD_MINUTE: append_int(b, min, 0); break;
        case STD_ZERO_MINUTE: append_int(b, min, 2); break;
        case STD_SECOND: append_int(b, secs, 0); break;
        case STD_ZERO_SECOND: append_int(b, secs, 2); break;
        case STD_PM_UPPER: buf_append(b, hour >= 12 ? "PM" : "AM", 2); break;
        case STD_PM_LOWER: buf_append(b, hour >= 12 ? "pm" : "am", 2); break;
        case STD_TZ: buf_append(b, "UTC", 3); break;
        case STD_ISO_TZ: case STD_ISO_SECONDS_TZ: case STD_ISO_SHORT_TZ: case STD_ISO_COLON_TZ:
        case STD_ISO_COLON_SECONDS_TZ: buf_append(b, "Z", 1); break;
        case STD_NUM_TZ: buf_append(b, "+0000", 5); break;
        case STD_NUM_SECONDS_TZ: buf_append(b, "+000000", 7); break;
        case STD_NUM_SHORT_TZ: buf_append(b, "+00", 3); break;
        case STD_NUM_COLON_TZ: buf_append(b, "+00:00", 6); break;
        case STD_NUM_COLON_SECONDS_TZ: buf_append(b, "+00:00:00", 9); break;
        case STD_FRAC0: case STD_FRAC9: {
            if (std == STD_FRAC9 && nsec == 0) break;
            char frac[10];
            snprintf(frac, sizeof frac, "%09d", (int)nsec);
            int k = digits < 9 ? digits : 9;
            if (std == STD_FRAC9)
                while (k > 0 && frac[k - 1] == '0') k--;
            if (k == 0) break;
            buf_append(b, &sep, 1);
            buf_append(b, frac, (size_t)k);
            break;
        }
        }
    }
}

/* Go's Time.String(). */
static void time_string(buf *b, const tmpl_value *t) {
    static const char layout[] = "2006-01-02 15:04:05.999999999 -0700 MST";
    time_format(b, t->u.t.sec, t->u.t.nsec, layout, sizeof layout - 1);
}

/* ------------------------------------------------------------ fmt */

/* fmt's pp and fmt state: flags of the verb being printed, the operand
 * (for %!verb(type=value)) and the output.  A template can build values
 * that print to far more than their size (a list holding the same list
 * twice, nested again and again) or nest deeper than the C stack allows,
 * so printing stops when the output passes limit or values nest deeper
 * than MAX_PRINT_DEPTH, and says which in overflow. */
typedef struct {
    buf *b;
    locale_t loc;
    int minus, plus, sharp, space, zero, plus_v, sharp_v;
    int wid, prec, wid_present, prec_present;
    const tmpl_value *arg;
    int erroring;
    size_t limit;
    int overflow;           /* PRINT_TOO_LONG, PRINT_TOO_DEEP */
} printer;

#define PRINT_TOO_LONG 1
#define PRINT_TOO_DEEP 2

/* Whether printing must stop (and why, in p->overflow). */
static int p_stop(printer *p, int depth) {
    if (p->overflow) return 1;
    if (p->b->len > p->limit) p->overflow = PRINT_TOO_LONG;
    else if (depth > (int)MAX_PRINT_DEPTH) p->overflow = PRINT_TOO_DEEP;
    return p->overflow != 0;
}

static const char ldigits[] = "0123456789abcdefx";
static const char udigits[] = "0123456789ABCDEFX";

static void print_arg(printer *p, const tmpl_value *v, uint32_t verb);
static void print_value(printer *p, const tmpl_value *v, uint32_t verb, int depth);

static void p_clear_flags(printer *p) {
    p->minus = p->plus = p->sharp = p->space = p->zero = p->plus_v = p->sharp_v = 0;
    p->wid = p->prec = p->wid_present = p->prec_present = 0;
}

static void p_write_padding(printer *p, int n) {
    if (n <= 0) return;
    if (p->b->len + (size_t)n > p->limit) {
        p->overflow = PRINT_TOO_LONG;
        return;
    }
    buf_reserve(p->b, (size_t)n);
    memset(p->b->data + p->b->len, p->zero ? '0' : ' ', (size_t)n);
    p->b->len += (size_t)n;
}

/* fmt.pad: s padded to the width in runes, on the left unless '-'. */
static void p_pad(printer *p, const char *s, size_t n) {
    if (!p->wid_present || p->wid == 0) {
        buf_append(p->b, s, n);
        return;
    }
    int width = p->wid - (int)utf8_count(s, n);
    if (!p->minus) {
        p_write_padding(p, width);
        buf_append(p->b, s, n);
    } else {
        buf_append(p->b, s, n);
        p_write_padding(p, width);
    }
}

/* fmt's %!verb(type=value) for a verb the operand does not take. */
static void bad_verb(printer *p, uint32_t verb) {
    p->erroring = 1;
    buf_append(p->b, "%!", 2);
    buf_rune(p->b, verb);
    buf_append(p->b, "(", 1);
    const tmpl_value *arg = p->arg;
    if (arg && arg->kind != K_NIL) {
        buf_printf(p->b, "%s=", value_type_name(arg));
        print_arg(p, arg, 'v');
    } else {
        buf_append(p->b, "<nil>", 5);
    }
    buf_append(p->b, ")", 1);
    p->erroring = 0;
}

static void fmt_s(printer *p, const char *s, size_t n) {
    if (p->prec_present) n = utf8_prefix(s, n, (size_t)p->prec);
    p_pad(p, s, n);
}

/* %q: strconv.Quote, backquoted with #, ASCII only with +. */
static void fmt_q(printer *p, const char *s, size_t n) {
    if (p->prec_present) n = utf8_prefix(s, n, (size_t)p->prec);
    buf t = {0};
    if (p->sharp && can_backquote(s, n)) {
        buf_append(&t, "`", 1);
        buf_append(&t, s, n);
        buf_append(&t, "`", 1);
    } else {
        go_quote(&t, s, n, p->plus, p->loc);
    }
    p_pad(p, (const char *)t.data, t.len);
    buf_free(&t);
}

/* fmt.fmtSbx: a string as hexadecimal bytes. */
static void fmt_sbx(printer *p, const char *s, size_t n, const char *digits) {
    size_t length = n;
    if (p->prec_present && (size_t)p->prec < length) length = (size_t)p->prec;
    int width = 2 * (int)length;
    if (width > 0) {
        if (p->space) {
            if (p->sharp) width *= 2;
            width += (int)length - 1;
        } else if (p->sharp) {
            width += 2;
        }
    } else {
        if (p->wid_present) p_write_padding(p, p->wid);
        return;
    }
    if (p->wid_present && p->wid > width && !p->minus) p_write_padding(p, p->wid - width);
    if (p->sharp) {
        char pre[2] = {'0', digits[16]};
        buf_append(p->b, pre, 2);
    }
    for (size_t i = 0; i < length; i++) {
        if (p->space && i > 0) {
            buf_append(p->b, " ", 1);
            if (p->sharp) {
                char pre[2] = {'0', digits[16]};
                buf_append(p->b, pre, 2);
            }
        }
        unsigned char c = (unsigned char)s[i];
        char hx[2] = {digits[c >> 4], digits[c & 0xF]};
        buf_append(p->b, hx, 2);
    }
    if (p->wid_present && p->wid > width && p->minus) p_write_padding(p, p->wid - width);
}

/* fmt.fmtString: the verbs a string takes. */
static void fmt_string(printer *p, const char *s, size_t n, uint32_t verb) {
    switch (verb) {
    case 'v':
        if (p->sharp_v) fmt_q(p, s, n);
        else fmt_s(p, s, n);
        break;
    case 's': fmt_s(p, s, n); break;
    case 'x': fmt_sbx(p, s, n, ldigits); break;
    case 'X': fmt_sbx(p, s, n, udigits); break;
    case 'q': fmt_q(p, s, n); break;
    default: bad_verb(p, verb);
    }
}

static void fmt_bool(printer *p, int b, uint32_t verb) {
    if (verb == 't' || verb == 'v') p_pad(p, b ? "true" : "false", b ? 4 : 5);
    else bad_verb(p, verb);
}

/* fmt.fmtInteger: precision and zero padding make leading zeros, then
 * the 0x / 0b / 0 prefix for '#', then the sign. */
static void fmt_integer(printer *p, uint64_t u, unsigned base, int is_signed, uint32_t verb, const char *digits) {
    int negative = is_signed && (int64_t)u < 0;
    if (negative) u = 0 - u;
    int prec = 0;
    if (p->prec_present) {
        prec = p->prec;
        if (prec == 0 && u == 0) {
            int old_zero = p->zero;
            p->zero = 0;
            p_write_padding(p, p->wid);
            p->zero = old_zero;
            return;
        }
    } else if (p->zero && p->wid_present) {
        prec = p->wid;
        if (negative || p->plus || p->space) prec--;
    }
    size_t cap = 72 + (size_t)(prec > 0 ? prec : 0);
    char *b = xmalloc(cap);
    size_t i = cap;
    while (u >= base) {
        b[--i] = digits[u % base];
        u /= base;
    }
    b[--i] = digits[u];
    while (i > 0 && prec > (int)(cap - i)) b[--i] = '0';
    if (p->sharp) {
        if (base == 2) { b[--i] = 'b'; b[--i] = '0'; }
        else if (base == 8) { if (b[i] != '0') b[--i] = '0'; }
        else if (base == 16) { b[--i] = digits[16]; b[--i] = '0'; }
    }
    if (verb == 'O') { b[--i] = 'o'; b[--i] = '0'; }
    if (negative) b[--i] = '-';
    else if (p->plus) b[--i] = '+';
    else if (p->space) b[--i] = ' ';
    int old_zero = p->zero;
    p->zero = 0;
    p_pad(p, b + i, cap - i);
    p->zero = old_zero;
    free(b);
}

/* %U: U+0041, with # also the quoted character. */
static void fmt_unicode(printer *p, uint64_t u) {
    buf t = {0};
    char hex[20];
    int n = snprintf(hex, sizeof hex, "%" PRIX64, u);
    int prec = 4;
    if (p->prec_present && p->prec > 4) prec = p->prec;
    buf_append(&t, "U+", 2);
    for (int i = n; i < prec; i++) buf_append(&t, "0", 1);
    buf_append(&t, hex, (size_t)n);
    if (p->sharp && u <= 0x10FFFF && rune_is_print((uint32_t)u, p->loc)) {
        buf_append(&t, " '", 2);
        buf_rune(&t, (uint32_t)u);
        buf_append(&t, "'", 1);
    }
    int old_zero = p->zero;
    p->zero = 0;
    p_pad(p, (const char *)t.data, t.len);
    p->zero = old_zero;
    buf_free(&t);
}

/* fmt.fmtInteger dispatch: the verbs an int takes. */
static void fmt_int(printer *p, int64_t v, uint32_t verb) {
    uint64_t u = (uint64_t)v;
    switch (verb) {
    case 'v': case 'd': fmt_integer(p, u, 10, 1, verb, ldigits); break;
    case 'b': fmt_integer(p, u, 2, 1, verb, ldigits); break;
    case 'o': case 'O': fmt_integer(p, u, 8, 1, verb, ldigits); break;
    case 'x': fmt_integer(p, u, 16, 1, verb, ldigits); break;
    case 'X': fmt_integer(p, u, 16, 1, verb, udigits); break;
    case 'c': {
        char enc[4];
        p_pad(p, enc, utf8_encode(u > 0x10FFFF ? RUNE_ERROR : (uint32_t)u, enc));
        break;
    }
    case 'q': {
        buf t = {0};
        go_quote_rune(&t, u > 0x10FFFF ? RUNE_ERROR : (uint32_t)u, p->plus, p->loc);
        p_pad(p, (const char *)t.data, t.len);
        buf_free(&t);
        break;
    }
    case 'U': fmt_unicode(p, u); break;
    default: bad_verb(p, verb);
    }
}

/* The digits of a float for strconv.FormatFloat(v, verb, prec, 64), sign
 * included ("-1.5", "+Inf", "NaN"). */
static void float_digits(buf *b, double v, uint32_t verb, int prec) {
    if (isnan(v)) {
        buf_append(b, "NaN", 3);
        return;
    }
    if (isinf(v)) {
        buf_append(b, v > 0 ? "+Inf" : "-Inf", 4);
        return;
    }
    if (verb == 'b') {
        uint64_t bits;
        memcpy(&bits, &v, sizeof bits);
        int64_t exp = (int64_t)((bits >> 52) & 0x7FF);
        uint64_t mant = bits & ((1ULL << 52) - 1);
        if (exp == 0) exp++;
        else mant |= 1ULL << 52;
        exp -= 1075;
        buf_printf(b, "%s%" PRIu64 "p%s%" PRId64, (bits >> 63) ? "-" : "", mant, exp >= 0 ? "+" : "", exp);
        return;
    }
    if ((verb == 'g' || verb == 'G') && prec < 0) {
        char text[FLOAT_TEXT_MAX];
        format_float(v, text);
        if (verb == 'G')
            for (char *c = text; *c; c++)
                if (*c == 'e') *c = 'E';
        buf_printf(b, "%s", text);
        return;
    }
    char spec[8] = "%.*";
    size_t k = 3;
    if (verb == 'x' || verb == 'X') {
        if (prec < 0) k = 1;
        spec[k++] = verb == 'x' ? 'a' : 'A';
    } else {
        spec[k++] = verb == 'F' ? 'f' : (char)verb;
    }
    spec[k] = 0;
    int n = prec < 0 ? snprintf(NULL, 0, spec, v) : snprintf(NULL, 0, spec, prec, v);
    buf_reserve(b, (size_t)n + 8);
    char *out = (char *)b->data + b->len;
    if (prec < 0) snprintf(out, (size_t)n + 1, spec, v);
    else snprintf(out, (size_t)n + 1, spec, prec, v);
    b->len += (size_t)n;
    if (verb == 'x' || verb == 'X') {
        /* Go writes at least two exponent digits: 0x1.8p+01. */
        char *pp = memchr(out, verb == 'x' ? 'p' : 'P', (size_t)n);
        if (pp && (size_t)(out + n - pp) == 3) {
            char d = pp[2];
            pp[2] = '0';
            buf_append(b, &d, 1);
        }
    }
}

/* fmt.fmtFloat's '#' flag on the digits in t (t->data[0] is the sign
 * slot): a decimal point always, and for %g %x the trailing zeros up to the
 * precision (6 by default).  Ported literally, quirks included: the x of
 * "0x" counts as a significant digit. */
static void float_sharp(buf *t, uint32_t verb, int prec) {
    int digits = 0;
    if (verb == 'g' || verb == 'G' || verb == 'x') digits = prec < 0 ? 6 : prec;
    char tail[16];
    size_t tail_len = 0, len = t->len;
    int has_point = 0, saw_nonzero = 0;
    for (size_t i = 1; i < len; i++) {
        char c = (char)t->data[i];
        if (c == '.') {
            has_point = 1;
        } else if (c == 'p' || c == 'P' || ((c == 'e' || c == 'E') && verb != 'x' && verb != 'X')) {
            tail_len = len - i < sizeof tail ? len - i : sizeof tail;
            memcpy(tail, t->data + i, tail_len);
            len = i;
        } else {
            if (c != '0') saw_nonzero = 1;
            if (saw_nonzero) digits--;
        }
    }
    t->len = len;
    if (!has_point) {
        if (len == 2 && t->data[1] == '0') digits--;
        buf_append(t, ".", 1);
    }
    for (; digits > 0; digits--) buf_append(t, "0", 1);
    buf_append(t, tail, tail_len);
}

/* fmt.fmtFloat: sign handling, and no zero padding for infinities and
 * NaN. */
static void fmt_float_prec(printer *p, double v, uint32_t verb, int prec) {
    if (p->prec_present) prec = p->prec;
    buf t = {0};
    buf_append(&t, "+", 1);
    float_digits(&t, v, verb, prec);
    if (p->sharp && verb != 'b' && t.data[1] != 'I' && t.data[1] != 'N' && t.data[2] != 'I')
        float_sharp(&t, verb, prec);
    char *num = (char *)t.data;
    size_t len = t.len;
    if (num[1] == '-' || num[1] == '+') {
        num++;
        len--;
    } else {
        num[0] = '+';
    }
    if (p->space && num[0] == '+' && !p->plus) num[0] = ' ';
    if (num[1] == 'I' || num[1] == 'N') {
        int old_zero = p->zero;
        p->zero = 0;
        if (num[1] == 'N' && !p->space && !p->plus) {
            num++;
            len--;
        }
        p_pad(p, num, len);
        p->zero = old_zero;
    } else if (p->plus || num[0] != '+') {
        if (p->zero && p->wid_present && p->wid > (int)len) {
            buf_append(p->b, num, 1);
            p_write_padding(p, p->wid - (int)len);
            buf_append(p->b, num + 1, len - 1);
        } else {
            p_pad(p, num, len);
        }
    } else {
        p_pad(p, num + 1, len - 1);
    }
    buf_free(&t);
}

static void fmt_float(printer *p, double v, uint32_t verb) {
    switch (verb) {
    case 'v': fmt_float_prec(p, v, 'g', -1); break;
    case 'b': case 'g': case 'G': case 'x': case 'X': fmt_float_prec(p, v, verb, -1); break;
    case 'f': case 'e': case 'E': case 'F': fmt_float_prec(p, v, verb, 6); break;
    default: bad_verb(p, verb);
    }
}

/* A time is a fmt.Stringer: printed as its String() for %v %s %q %x %X. */
static void fmt_time(printer *p, const tmpl_value *v, uint32_t verb) {
    if (verb == 'v' || verb == 's' || verb == 'q' || verb == 'x' || verb == 'X') {
        buf t = {0};
        time_string(&t, v);
        fmt_string(p, (const char *)t.data, t.len, verb);
        buf_free(&t);
    } else {
        bad_verb(p, verb);
    }
}

/* fmt's printValue: lists, maps and structs element by element. */
static void print_value(printer *p, const tmpl_value *v, uint32_t verb, int depth) {
    if (p_stop(p, depth)) return;
    if (depth > 0) p->arg = v;
    switch ((value_kind)v->kind) {
    case K_NIL: buf_append(p->b, "<nil>", 5); break;
    case K_BOOL: fmt_bool(p, v->u.b, verb); break;
    case K_INT: fmt_int(p, v->u.i, verb); break;
    case K_FLOAT: fmt_float(p, v->u.f, verb); break;
    case K_STRING: fmt_string(p, v->u.s, v->n, verb); break;
    case K_TIME: fmt_time(p, v, verb); break;
    case K_LIST:
        buf_append(p->b, "[", 1);
        for (size_t i = 0; i < v->n && !p_stop(p, depth); i++) {
            if (i) buf_append(p->b, " ", 1);
            print_value(p, v->u.items[i], verb, depth + 1);
        }
        buf_append(p->b, "]", 1);
        break;
    case K_MAP: {
        int is_struct = v->sub == M_STRUCT;
        if (is_struct) {
            if (v->type_name[0] == '*') buf_append(p->b, "&", 1);
            buf_append(p->b, "{", 1);
        } else {
            buf_append(p->b, "map[", 4);
        }
        for (size_t i = 0; i < v->n && !p_stop(p, depth); i++) {
            str_ref key;
            const tmpl_value *val;
            tmpl_value tmp, key_value;
            map_item(v, i, &key, &val, &tmp);
            if (i) buf_append(p->b, " ", 1);
            if (is_struct) {
                if (p->plus_v) {
                    buf_append(p->b, key.p, key.n);
                    buf_append(p->b, ":", 1);
                }
            } else {
                key_value = (tmpl_value){.kind = K_STRING, .n = key.n, .u.s = key.p};
                print_value(p, &key_value, verb, depth + 1);
                buf_append(p->b, ":", 1);
            }
            print_value(p, val, verb, depth + 1);
        }
        buf_append(p->b, is_struct ? "}" : "]", 1);
        break;
    }
    }
}

/* fmt's printArg: one operand with a verb. */
static void print_arg(printer *p, const tmpl_value *v, uint32_t verb) {
    p->arg = v;
    if (v->kind == K_NIL) {
        if (verb == 'T' || verb == 'v') p_pad(p, "<nil>", 5);
        else bad_verb(p, verb);
        return;
    }
    if (verb == 'T') {
        const char *name = value_type_name(v);
        fmt_s(p, name, strlen(name));
        return;
    }
    if (verb == 'p') {
        bad_verb(p, verb);
        return;
    }
    print_value(p, v, verb, 0);
}

/* fmt.Sprint: spaces between operands when neither is a string. */
static void do_print(printer *p, const tmpl_value *const *a, size_t n) {
    int prev_string = 0;
    for (size_t i = 0; i < n; i++) {
        int is_string = a[i]->kind == K_STRING;
        if (i > 0 && !is_string && !prev_string) buf_append(p->b, " ", 1);
        print_arg(p, a[i], 'v');
        prev_string = is_string;
    }
}

/* fmt.Sprintln: spaces between all operands, a newline at the end. */
static void do_println(printer *p, const tmpl_value *const *a, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (i > 0) buf_append(p->b, " ", 1);
        print_arg(p, a[i], 'v');
    }
    buf_append(p->b, "\n", 1);
}

/* fmt's parsenum: digits at format[*i..end); too large a number ends the
 * format (*i = end), as in Go. */
static void parse_num(const char *f, size_t *i, size_t end, int *num, int *present) {
    *num = 0;
    *present = 0;
    if (*i >= end) return;
    size_t k = *i;
    for (; k < end && f[k] >= '0' && f[k] <= '9'; k++) {
        if (*num > FMT_MAX_WIDTH) {
            *num = 0;
            *present = 0;
            *i = end;
            return;
        }
        *num = *num * 10 + (f[k] - '0');
        *present = 1;
    }
    *i = k;
}

/* fmt's argNumber: an explicit [n] argument index. */
static void arg_number(const char *f, size_t *i, size_t end, size_t nargs, size_t *argnum, int *found,
                       int *good, int *reordered) {
    *found = 0;
    if (*i >= end || f[*i] != '[') return;
    *reordered = 1;
    size_t close = *i + 1;
    while (close < end && f[close] != ']') close++;
    if (end - *i < 3 || close >= end) {
        *good = 0;
        *i += 1;
        return;
    }
    size_t k = *i + 1;
    int num, present;
    parse_num(f, &k, close, &num, &present);
    if (!present || k != close) {
        *good = 0;
        *i = close + 1;
        return;
    }
    *i = close + 1;
    *found = 1;
    if (num >= 1 && (size_t)(num - 1) < nargs) *argnum = (size_t)(num - 1);
    else *good = 0;
}

/* fmt's intFromArg: a * width or precision. */
static void int_from_arg(const tmpl_value *const *a, size_t n, size_t *argnum, int *num, int *ok) {
    *num = 0;
    *ok = 0;
    if (*argnum < n) {
        const tmpl_value *v = a[*argnum];
        if (v->kind == K_INT && v->u.i >= -FMT_MAX_WIDTH && v->u.i <= FMT_MAX_WIDTH) {
            *num = (int)v->u.i;
            *ok = 1;
        }
        (*argnum)++;
    }
}

/* fmt.Sprintf's doPrintf. */
static void do_printf(printer *p, const char *f, size_t end, const tmpl_value *const *a, size_t na) {
    size_t argnum = 0;
    int after_index = 0, reordered = 0;
    for (size_t i = 0; i < end && !p_stop(p, 0);) {
        int good = 1;
        size_t lasti = i;
        while (i < end && f[i] != '%') i++;
        if (i > lasti) buf_append(p->b, f + lasti, i - lasti);
        if (i >= end) break;
        i++;
        p_clear_flags(p);
        int simple = 0;
        for (; i < end; i++) {
            char c = f[i];
            if (c == '#') p->sharp = 1;
            else if (c == '0') p->zero = !p->minus;
            else if (c == '+') p->plus = 1;
            else if (c == '-') { p->minus = 1; p->zero = 0; }
            else if (c == ' ') p->space = 1;
            else {
                if (c >= 'a' && c <= 'z' && argnum < na) {
                    if (c == 'v') {
                        p->sharp_v = p->sharp;
                        p->sharp = 0;
                        p->plus_v = p->plus;
                        p->plus = 0;
                    }
                    print_arg(p, a[argnum++], (uint32_t)c);
                    i++;
                    simple = 1;
                }
                break;
            }
        }
        if (simple) continue;
        arg_number(f, &i, end, na, &argnum, &after_index, &good, &reordered);
        if (i < end && f[i] == '*') {
            i++;
            int_from_arg(a, na, &argnum, &p->wid, &p->wid_present);
            if (!p->wid_present) buf_append(p->b, "%!(BADWIDTH)", 12);
            if (p->wid < 0) {
                p->wid = -p->wid;
                p->minus = 1;
                p->zero = 0;
            }
            after_index = 0;
        } else {
            parse_num(f, &i, end, &p->wid, &p->wid_present);
            if (after_index && p->wid_present) good = 0;
        }
        if (i + 1 < end && f[i] == '.') {
            i++;
            if (after_index) good = 0;
            arg_number(f, &i, end, na, &argnum, &after_index, &good, &reordered);
            if (i < end && f[i] == '*') {
                i++;
                int_from_arg(a, na, &argnum, &p->prec, &p->prec_present);
                if (p->prec < 0) {
                    p->prec = 0;
                    p->prec_present = 0;
                }
                if (!p->prec_present) buf_append(p->b, "%!(BADPREC)", 11);
                after_index = 0;
            } else {
                parse_num(f, &i, end, &p->prec, &p->prec_present);
                if (!p->prec_present) {
                    p->prec = 0;
                    p->prec_present = 1;
                }
            }
        }
        if (!after_index) arg_number(f, &i, end, na, &argnum, &after_index, &good, &reordered);
        if (i >= end) {
            buf_append(p->b, "%!(NOVERB)", 10);
            break;
        }
        uint32_t verb;
        i += utf8_decode((const unsigned char *)f + i, end - i, &verb);
        if (verb == '%') {
            buf_append(p->b, "%", 1);
        } else if (!good) {
            buf_append(p->b, "%!", 2);
            buf_rune(p->b, verb);
            buf_append(p->b, "(BADINDEX)", 10);
        } else if (argnum >= na) {
            buf_append(p->b, "%!", 2);
            buf_rune(p->b, verb);
            buf_append(p->b, "(MISSING)", 9);
        } else {
            if (verb == 'v') {
                p->sharp_v = p->sharp;
                p->sharp = 0;
                p->plus_v = p->plus;
                p->plus = 0;
            }
            print_arg(p, a[argnum++], verb);
        }
    }
    if (!reordered && argnum < na) {
        p_clear_flags(p);
        buf_append(p->b, "%!(EXTRA ", 9);
        for (size_t k = argnum; k < na; k++) {
            if (k > argnum) buf_append(p->b, ", ", 2);
            if (a[k]->kind == K_NIL) {
                buf_append(p->b, "<nil>", 5);
            } else {
                buf_printf(p->b, "%s=", value_type_name(a[k]));
                print_arg(p, a[k], 'v');
            }
        }
        buf_append(p->b, ")", 1);
    }
}

/* ------------------------------------------------------------ execution */

typedef struct {
    str_ref name;
    const tmpl_value *val;
} var_slot;

struct exec_state {
    const tmpl *t;              /* the template executed: its set resolves {{template}} */
    const tree *tr;             /* the tree being walked */
    const node *at;             /* the node evaluated, for error positions */
    tmpl_data *arena;           /* values made while executing */
    buf *out;
    size_t out_start;
    var_slot *vars;             /* the variable stack; this template's are vars[frame..nvars) */
    size_t nvars, capvars, frame;
    uint64_t steps, max_steps;
    unsigned depth, max_depth, nesting;
    size_t max_output, max_memory;
    const tmpl_exec_options *o;
    locale_t loc;
    errbuf *err;
    int failed;                 /* err holds the execution's error */
    char call_err[400];         /* why a function failed: "error calling F: <this>" */
};

enum { W_OK = 0, W_ERR = -1, W_BREAK = 1, W_CONTINUE = 2 };

/* Go's state.errorf: template: NAME:LINE:COL: executing "T" at <NODE>: MSG.
 * The column is the byte offset in its line, counted from 0.  Returns NULL
 * so error paths read `return exec_errorf(...)`. */
static const tmpl_value *exec_errorf(exec_state *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static const tmpl_value *exec_errorf(exec_state *st, const char *fmt, ...) {
    if (st->failed) return NULL;
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    buf name = {0};
    go_quote(&name, st->tr->name.p, st->tr->name.n, 0, st->loc);
    buf_append(&name, "", 1);
    if (st->at) {
        const char *text = st->tr->text;
        size_t pos = st->at->pos, line = 1, line_start = 0;
        int newline = 0;
        for (size_t i = 0; i < pos; i++)
            if (text[i] == '\n') {
                line++;
                line_start = i + 1;
                newline = 1;
            }
        size_t col = newline ? pos - line_start : pos;
        char context[256];
        node_text(st->at, st->loc, context, sizeof context);
        errf(st->err, "template: %s:%zu:%zu: executing %s at <%s>: %s", st->tr->parse_name, line, col,
             (char *)name.data, context, msg);
    } else {
        errf(st->err, "template: %s: %s", (char *)name.data, msg);
    }
    buf_free(&name);
    st->failed = 1;
    return NULL;
}

/* Records why a function failed (wrapped by eval_call). */
static const tmpl_value *call_errorf(exec_state *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static const tmpl_value *call_errorf(exec_state *st, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(st->call_err, sizeof st->call_err, fmt, ap);
    va_end(ap);
    return NULL;
}

static int memory_exceeded(exec_state *st, size_t more) {
    if (st->arena->total + more <= st->max_memory) return 0;
    exec_errorf(st, "exceeded the memory limit of %zu bytes", st->max_memory);
    return 1;
}

/* Counts one step against the limits. */
static int step(exec_state *st) {
    if (++st->steps > st->max_steps) {
        exec_errorf(st, "exceeded the limit of %" PRIu64 " evaluation steps", st->max_steps);
        return -1;
    }
    return memory_exceeded(st, 0) ? -1 : 0;
}

static int emit_out(exec_state *st, const void *p, size_t n) {
    if (st->out->len - st->out_start + n > st->max_output) {
        exec_errorf(st, "output exceeds the limit of %zu bytes", st->max_output);
        return -1;
    }
    buf_append(st->out, p, n);
    return 0;
}

/* A function's string result made from a scratch buffer (which is
 * freed); past the memory limit the function fails with that reason. */
static const tmpl_value *str_result(exec_state *st, buf *b) {
    if (st->arena->total + b->len > st->max_memory) {
        buf_free(b);
        return call_errorf(st, "exceeded the memory limit of %zu bytes", st->max_memory);
    }
    const tmpl_value *v = b->len ? tmpl_string(st->arena, arena_strndup(st->arena, (const char *)b->data, b->len), b->len)
                                 : &empty_string_value;
    buf_free(b);
    return v;
}

static const tmpl_value *new_string_value(exec_state *st, const char *s, size_t n) {
    return tmpl_string(st->arena, s, n);
}

/* A value found with map_find()/map_item() that must outlive the call. */
static const tmpl_value *persist(exec_state *st, const tmpl_value *v, const tmpl_value *tmp) {
    return v == tmp ? new_string_value(st, tmp->u.s, tmp->n) : v;
}

/* A printer into b that may write up to limit bytes. */
static void printer_init(printer *p, exec_state *st, buf *b, size_t limit) {
    memset(p, 0, sizeof *p);
    p->b = b;
    p->loc = st->loc;
    p->limit = limit;
}

/* The memory a function's printed result may still take. */
static size_t memory_left(const exec_state *st) {
    return st->arena->total < st->max_memory ? st->max_memory - st->arena->total : 0;
}

/* Why a printer had to stop, as an execution error when it printed an
 * action's value (output), else as the failure of the function it
 * printed for (memory). */
static int printer_failed(exec_state *st, const printer *p, int output) {
    if (!p->overflow) return 0;
    if (output) {
        if (p->overflow == PRINT_TOO_DEEP) exec_errorf(st, "value nested deeper than %u levels", MAX_PRINT_DEPTH);
        else exec_errorf(st, "output exceeds the limit of %zu bytes", st->max_output);
    } else {
        if (p->overflow == PRINT_TOO_DEEP) call_errorf(st, "value nested deeper than %u levels", MAX_PRINT_DEPTH);
        else call_errorf(st, "exceeded the memory limit of %zu bytes", st->max_memory);
    }
    return -1;
}

/* fmt.Sprint of one value into a fixed array (messages). */
static const char *sprint_value(exec_state *st, const tmpl_value *v, char *out, size_t cap) {
    buf b = {0};
    printer p;
    printer_init(&p, st, &b, cap);
    print_arg(&p, v, 'v');
    size_t k = b.len < cap - 1 ? b.len : cap - 1;
    if (k) memcpy(out, b.data, k);
    out[k] = 0;
    buf_free(&b);
    return out;
}

/* Go's isTrue. */
static int is_true(const tmpl_value *v) {
    switch ((value_kind)v->kind) {
    case K_NIL: return 0;
    case K_BOOL: return v->u.b;
    case K_INT: return v->u.i != 0;
    case K_FLOAT: return v->u.f != 0;
    case K_STRING: case K_LIST: return v->n > 0;
    case K_MAP: return v->sub == M_STRUCT || v->n > 0;
    case K_TIME: return 1;
    }
    return 0;
}

static void push_value(exec_state *st, str_ref name, const tmpl_value *v) {
    if (st->nvars == st->capvars) {
        st->capvars = st->capvars ? 2 * st->capvars : 16;
        st->vars = xrealloc(st->vars, st->capvars * sizeof *st->vars);
    }
    st->vars[st->nvars++] = (var_slot){name, v};
}

static var_slot *find_var(exec_state *st, str_ref name) {
    for (size_t i = st->nvars; i > st->frame; i--)
        if (st->vars[i - 1].name.n == name.n && memcmp(st->vars[i - 1].name.p, name.p, name.n) == 0)
            return &st->vars[i - 1];
    return NULL;
}

static const tmpl_value *var_value(exec_state *st, str_ref name) {
    var_slot *v = find_var(st, name);
    if (!v) return exec_errorf(st, "undefined variable: %.*s", (int)name.n, name.p);
    return v->val;
}

/* Parameter types of functions and methods, as Go converts arguments. */
typedef enum { P_ANY, P_STRING, P_FLOAT, P_INT, P_BOOL, P_LIST, P_SAMPLE, P_STRINGS } param_type;

typedef const tmpl_value *(*func_impl)(exec_state *st, const tmpl_value *recv, const tmpl_value *const *argv,
                                       size_t argc);

#define FN_PLAIN 0
#define FN_AND 1
#define FN_OR 2
#define FAM_GO 0x100u

struct func_def {
    const char *name;
    unsigned families;          /* FAM_GO, TMPL_FUNCS_* bits */
    uint8_t nparams;            /* fixed parameters */
    uint8_t variadic;           /* more of vparam may follow */
    uint8_t special;            /* FN_AND, FN_OR */
    param_type params[3];
    param_type vparam;
    func_impl impl;
};

/* The Go type of a parameter, as messages name it. */
static const char *param_type_name(param_type t) {
    switch (t) {
    case P_ANY: return "interface {}";
    case P_STRING: return "string";
    case P_FLOAT: return "float64";
    case P_INT: return "int";
    case P_BOOL: return "bool";
    case P_LIST: return "template.queryResult";
    case P_SAMPLE: return "*template.sample";
    case P_STRINGS: return "[]string";
    }
    return "?";
}

static const func_def *find_method(const tmpl_value *recv, const char *name, size_t len);

static const tmpl_value *eval_pipeline(exec_state *st, const tmpl_value *dot, const node *pipe);
static const tmpl_value *eval_arg(exec_state *st, const tmpl_value *dot, param_type type, const node *n);
static const tmpl_value *eval_call(exec_state *st, const tmpl_value *dot, const func_def *fn, const tmpl_value *recv,
                                   const node *at_node, str_ref name, node *const *args, size_t nargs,
                                   const tmpl_value *final);

static const tmpl_value *not_a_function(exec_state *st, node *const *args, size_t nargs, const tmpl_value *final) {
    if (nargs > 1 || final) {
        char text[200];
        return exec_errorf(st, "can't give argument to non-function %s", node_text(args[0], st->loc, text, sizeof text));
    }
    return &nil_value;
}

/* Go's evalField: a method of the receiver, a struct field or a map key. */
static const tmpl_value *eval_field(exec_state *st, const tmpl_value *dot, str_ref name, const node *at_node,
                                    node *const *args, size_t nargs, const tmpl_value *final,
                                    const tmpl_value *recv) {
    if (recv->kind == K_NIL) {
        if (st->o->missing_key == TMPL_MISSING_ERROR)
            return exec_errorf(st, "nil data; no entry for key \"%.*s\"", (int)name.n, name.p);
        return &nil_value;
    }
    const func_def *method = find_method(recv, name.p, name.n);
    if (method) return eval_call(st, dot, method, recv, at_node, name, args, nargs, final);
    int has_args = nargs > 1 || final;
    if (recv->kind == K_MAP) {
        tmpl_value tmp;
        const tmpl_value *v = map_find(recv, name.p, name.n, &tmp);
        if (recv->sub == M_STRUCT) {
            if (v) {
                if (has_args)
                    return exec_errorf(st, "%.*s has arguments but cannot be invoked as function", (int)name.n, name.p);
                return v;
            }
        } else {
            if (has_args) return exec_errorf(st, "%.*s is not a method but has arguments", (int)name.n, name.p);
            if (v) return persist(st, v, &tmp);
            switch (st->o->missing_key) {
            case TMPL_MISSING_ZERO: return map_zero(recv);
            case TMPL_MISSING_DEFAULT: return &nil_value;
            case TMPL_MISSING_ERROR:
                return exec_errorf(st, "map has no entry for key \"%.*s\"", (int)name.n, name.p);
            }
        }
    }
    return exec_errorf(st, "can't evaluate field %.*s in type %s", (int)name.n, name.p, value_type_name(recv));
}

static const tmpl_value *eval_field_chain(exec_state *st, const tmpl_value *dot, const tmpl_value *recv,
                                          const node *at_node, const str_ref *idents, size_t n, node *const *args,
                                          size_t nargs, const tmpl_value *final) {
    for (size_t i = 0; i + 1 < n; i++) {
        recv = eval_field(st, dot, idents[i], at_node, NULL, 0, NULL, recv);
        if (!recv) return NULL;
    }
    return eval_field(st, dot, idents[n - 1], at_node, args, nargs, final, recv);
}

static const tmpl_value *eval_field_node(exec_state *st, const tmpl_value *dot, const node *field, node *const *args,
                                         size_t nargs, const tmpl_value *final) {
    st->at = field;
    return eval_field_chain(st, dot, dot, field, field->u.field.idents, field->u.field.n, args, nargs, final);
}

static const tmpl_value *eval_variable_node(exec_state *st, const tmpl_value *dot, const node *var, node *const *args,
                                            size_t nargs, const tmpl_value *final) {
    st->at = var;
    const tmpl_value *v = var_value(st, var->u.field.idents[0]);
    if (!v) return NULL;
    if (var->u.field.n == 1) return not_a_function(st, args, nargs, final) ? v : NULL;
    return eval_field_chain(st, dot, v, var, var->u.field.idents + 1, var->u.field.n - 1, args, nargs, final);
}

/* (pipeline).Field: fields of a computed value. */
static const tmpl_value *eval_chain_node(exec_state *st, const tmpl_value *dot, const node *chain, node *const *args,
                                         size_t nargs, const tmpl_value *final) {
    st->at = chain;
    if (chain->u.chain.term->type == N_NIL) {
        char text[200];
        return exec_errorf(st, "indirection through explicit nil in %s", node_text(chain, st->loc, text, sizeof text));
    }
    const tmpl_value *v = eval_arg(st, dot, P_ANY, chain->u.chain.term);
    if (!v) return NULL;
    return eval_field_chain(st, dot, v, chain, chain->u.chain.fields, chain->u.chain.n, args, nargs, final);
}

static const tmpl_value *eval_function(exec_state *st, const tmpl_value *dot, const node *ident, const node *cmd,
                                       node *const *args, size_t nargs, const tmpl_value *final) {
    st->at = ident;
    return eval_call(st, dot, ident->u.ident.fn, NULL, cmd, ident->u.ident.name, args, nargs, final);
}

/* The value of a number constant where any type is accepted. */
static const tmpl_value *ideal_constant(exec_state *st, const node *n) {
    st->at = n;
    if (n->u.num.value) return n->u.num.value;
    return exec_errorf(st, "%.*s overflows int", (int)n->u.num.text.n, n->u.num.text.p);
}

/* Go's validateType: an evaluated argument against its parameter. */
static const tmpl_value *validate_type(exec_state *st, const tmpl_value *v, param_type type) {
    if (!v) return NULL;
    if (v->kind == K_NIL) {
        if (type == P_ANY || type == P_LIST || type == P_SAMPLE || type == P_STRINGS) return v;
        return exec_errorf(st, "invalid value; expected %s", param_type_name(type));
    }
    int ok = 0;
    switch (type) {
    case P_ANY: ok = 1; break;
    case P_STRING: ok = v->kind == K_STRING; break;
    case P_FLOAT: ok = v->kind == K_FLOAT; break;
    case P_INT: ok = v->kind == K_INT; break;
    case P_BOOL: ok = v->kind == K_BOOL; break;
    case P_LIST: ok = v->kind == K_LIST; break;
    case P_SAMPLE: ok = v->kind == K_MAP; break;
    case P_STRINGS:
        ok = v->kind == K_LIST;
        for (size_t i = 0; ok && i < v->n; i++) ok = v->u.items[i]->kind == K_STRING;
        break;
    }
    if (ok) return v;
    return exec_errorf(st, "wrong type for value; expected %s; got %s", param_type_name(type), value_type_name(v));
}

/* Go's evalArg: an argument node converted to its parameter's type. */
static const tmpl_value *eval_arg(exec_state *st, const tmpl_value *dot, param_type type, const node *n) {
    st->at = n;
    char text[200];
    switch (n->type) {
    case N_DOT: return validate_type(st, dot, type);
    case N_NIL:
        if (type == P_ANY || type == P_LIST || type == P_SAMPLE || type == P_STRINGS) return &nil_value;
        return exec_errorf(st, "cannot assign nil to %s", param_type_name(type));
    case N_FIELD: {
        node *self = (node *)n;
        return validate_type(st, eval_field_node(st, dot, n, &self, 1, NULL), type);
    }
    case N_VARIABLE: return validate_type(st, eval_variable_node(st, dot, n, NULL, 0, NULL), type);
    case N_PIPE: return validate_type(st, eval_pipeline(st, dot, n), type);
    case N_IDENT: return validate_type(st, eval_function(st, dot, n, n, NULL, 0, NULL), type);
    case N_CHAIN: return validate_type(st, eval_chain_node(st, dot, n, NULL, 0, NULL), type);
    default: break;
    }
    switch (type) {
    case P_BOOL:
        if (n->type == N_BOOL) return n->u.bool_value;
        return exec_errorf(st, "expected bool; found %s", node_text(n, st->loc, text, sizeof text));
    case P_STRING:
        if (n->type == N_STRING) return n->u.str.value;
        return exec_errorf(st, "expected string; found %s", node_text(n, st->loc, text, sizeof text));
    case P_INT:
        if (n->type == N_NUMBER && n->u.num.is_int) return tmpl_int(st->arena, n->u.num.i);
        return exec_errorf(st, "expected integer; found %s", node_text(n, st->loc, text, sizeof text));
    case P_FLOAT:
        if (n->type == N_NUMBER && n->u.num.is_float) return tmpl_float(st->arena, n->u.num.f);
        return exec_errorf(st, "expected float; found %s", node_text(n, st->loc, text, sizeof text));
    case P_ANY:
        if (n->type == N_BOOL) return n->u.bool_value;
        if (n->type == N_NUMBER) return ideal_constant(st, n);
        if (n->type == N_STRING) return n->u.str.value;
        break;
    default: break;
    }
    return exec_errorf(st, "can't handle %s for arg of type %s", node_text(n, st->loc, text, sizeof text),
                       param_type_name(type));
}

/* Go's evalCall: checks the number of arguments, evaluates them (and/or
 * only as far as needed), calls, and wraps a failure as "error calling". */
static const tmpl_value *eval_call(exec_state *st, const tmpl_value *dot, const func_def *fn, const tmpl_value *recv,
                                   const node *at_node, str_ref name, node *const *args, size_t nargs,
                                   const tmpl_value *final) {
    node *const *argn = args ? args + 1 : NULL;
    size_t nargn = args ? nargs - 1 : 0;
    size_t nin = nargn + (final ? 1 : 0);
    if (fn->variadic) {
        if (nin < fn->nparams)
            return exec_errorf(st, "wrong number of args for %.*s: want at least %u got %zu", (int)name.n, name.p,
                               fn->nparams, nargn);
    } else if (nin != fn->nparams) {
        return exec_errorf(st, "wrong number of args for %.*s: want %u got %zu", (int)name.n, name.p, fn->nparams, nin);
    }
    if (fn->special == FN_AND || fn->special == FN_OR) {
        const tmpl_value *v = NULL;
        for (size_t i = 0; i < nargn; i++) {
            v = eval_arg(st, dot, P_ANY, argn[i]);
            if (!v) return NULL;
            if (is_true(v) == (fn->special == FN_OR)) return v;
        }
        return final ? final : v;
    }
    const tmpl_value *fixed_args[8];
    const tmpl_value **argv = nin <= 8 ? fixed_args : arena_alloc(st->arena, nin * sizeof *argv);
    size_t i = 0;
    for (; i < fn->nparams && i < nargn; i++)
        if (!(argv[i] = eval_arg(st, dot, fn->params[i], argn[i]))) return NULL;
    for (; i < nargn; i++)
        if (!(argv[i] = eval_arg(st, dot, fn->vparam, argn[i]))) return NULL;
    if (final) {
        param_type t;
        if (fn->variadic) t = nin - 1 < fn->nparams ? fn->params[nin - 1] : fn->vparam;
        else t = fn->params[fn->nparams - 1];
        if (!(argv[i] = validate_type(st, final, t))) return NULL;
    }
    st->call_err[0] = 0;
    const tmpl_value *v = fn->impl(st, recv, argv, nin);
    if (!v) {
        if (st->failed) return NULL;
        st->at = at_node;
        return exec_errorf(st, "error calling %.*s: %s", (int)name.n, name.p, st->call_err);
    }
    return v;
}

/* Go's evalCommand: a field, variable, function or parenthesised
 * pipeline is evaluated with the arguments and the piped value (final);
 * a constant takes neither. */
static const tmpl_value *eval_command(exec_state *st, const tmpl_value *dot, const node *cmd,
                                      const tmpl_value *final) {
    if (step(st)) return NULL;
    node *const *args = cmd->u.args.v;
    size_t nargs = cmd->u.args.n;
    const node *first = args[0];
    switch (first->type) {
    case N_FIELD: return eval_field_node(st, dot, first, args, nargs, final);
    case N_CHAIN: return eval_chain_node(st, dot, first, args, nargs, final);
    case N_IDENT: return eval_function(st, dot, first, cmd, args, nargs, final);
    case N_PIPE:
        if (!not_a_function(st, args, nargs, final)) return NULL;
        return eval_pipeline(st, dot, first);
    case N_VARIABLE: return eval_variable_node(st, dot, first, args, nargs, final);
    default: break;
    }
    st->at = first;
    if (!not_a_function(st, args, nargs, final)) return NULL;
    switch (first->type) {
    case N_BOOL: return first->u.bool_value;
    case N_DOT: return dot;
    case N_NIL: return exec_errorf(st, "nil is not a command");
    case N_NUMBER: return ideal_constant(st, first);
    case N_STRING: return first->u.str.value;
    default: break;
    }
    char text[200];
    return exec_errorf(st, "can't evaluate command %s", node_text(first, st->loc, text, sizeof text));
}

/* Go's evalPipeline: each command gets the previous one's value as its
 * last argument; then the declarations are pushed or assigned. */
static const tmpl_value *eval_pipeline(exec_state *st, const tmpl_value *dot, const node *pipe) {
    if (!pipe) return &nil_value;
    st->at = pipe;
    if (++st->nesting > MAX_EXEC_NESTING)
        return exec_errorf(st, "exceeded maximum template nesting (%u)", MAX_EXEC_NESTING);
    const tmpl_value *v = NULL;
    for (size_t i = 0; i < pipe->u.pipe.cmds.n; i++) {
        v = eval_command(st, dot, pipe->u.pipe.cmds.v[i], v);
        if (!v) return NULL;
    }
    for (size_t i = 0; i < pipe->u.pipe.decl.n; i++) {
        str_ref name = pipe->u.pipe.decl.v[i]->u.field.idents[0];
        if (pipe->u.pipe.is_assign) {
            var_slot *slot = find_var(st, name);
            if (!slot) return exec_errorf(st, "undefined variable: %.*s", (int)name.n, name.p);
            slot->val = v;
        } else {
            push_value(st, name, v);
        }
    }
    st->nesting--;
    return v;
}

static int walk(exec_state *st, const tmpl_value *dot, const node *n);

/* Go's printValue: nil is "<no value>", everything else fmt.Fprint. */
static int print_result(exec_state *st, const node *n, const tmpl_value *v) {
    st->at = n;
    if (v->kind == K_NIL) return emit_out(st, "<no value>", 10);
    if (v->kind == K_STRING) return emit_out(st, v->u.s, v->n);
    buf b = {0};
    printer p;
    printer_init(&p, st, &b, st->max_output - (st->out->len - st->out_start));
    print_arg(&p, v, 'v');
    int r = printer_failed(st, &p, 1) ? -1 : emit_out(st, b.data, b.len);
    buf_free(&b);
    return r;
}

/* if and with: variables declared in them end with them; with moves dot. */
static int walk_if_with(exec_state *st, const tmpl_value *dot, const node *n) {
    size_t mark = st->nvars;
    const tmpl_value *v = eval_pipeline(st, dot, n->u.ctl.pipe);
    if (!v) return W_ERR;
    int r = W_OK;
    if (is_true(v)) r = walk(st, n->type == N_WITH ? v : dot, n->u.ctl.list);
    else if (n->u.ctl.else_list) r = walk(st, dot, n->u.ctl.else_list);
    st->nvars = mark;
    return r;
}

/* One pass of a range body with the range variables set. */
static int range_iteration(exec_state *st, const node *n, size_t mark, const tmpl_value *index,
                           const tmpl_value *elem) {
    size_t ndecl = n->u.ctl.pipe->u.pipe.decl.n;
    if (ndecl > 0) st->vars[mark - 1].val = elem;
    if (ndecl > 1) st->vars[mark - 2].val = index;
    int r = walk(st, elem, n->u.ctl.list);
    st->nvars = mark;
    return r;
}

/* Go's walkRange: lists by index, maps in key order, nil as empty (the
 * else branch); anything else is an error.  The range variables are the
 * ones the pipeline declared, overwritten on each pass. */
static int walk_range(exec_state *st, const tmpl_value *dot, const node *n) {
    st->at = n;
    size_t mark0 = st->nvars;
    const tmpl_value *v = eval_pipeline(st, dot, n->u.ctl.pipe);
    if (!v) return W_ERR;
    size_t mark = st->nvars;
    int r = W_OK, iterated = 0;
    if (v->kind == K_LIST) {
        for (size_t i = 0; i < v->n; i++) {
            iterated = 1;
            r = range_iteration(st, n, mark, tmpl_int(st->arena, (int64_t)i), v->u.items[i]);
            if (r == W_ERR) return W_ERR;
            if (r == W_BREAK) break;
        }
    } else if (v->kind == K_MAP && v->sub != M_STRUCT) {
        for (size_t i = 0; i < v->n; i++) {
            str_ref key;
            const tmpl_value *val;
            tmpl_value tmp;
            map_item(v, i, &key, &val, &tmp);
            iterated = 1;
            r = range_iteration(st, n, mark, new_string_value(st, key.p, key.n), persist(st, val, &tmp));
            if (r == W_ERR) return W_ERR;
            if (r == W_BREAK) break;
        }
    } else if (v->kind != K_NIL) {
        char text[200];
        exec_errorf(st, "range can't iterate over %s", sprint_value(st, v, text, sizeof text));
        return W_ERR;
    }
    r = W_OK;
    if (!iterated && n->u.ctl.else_list) r = walk(st, dot, n->u.ctl.else_list);
    st->nvars = mark0;
    return r;
}

/* Finds a named template: in the executed template's set, then in its
 * defs chain. */
static const tree *lookup_tree(const tmpl *t, const char *name, size_t len) {
    for (; t; t = t->defs) {
        const tree *tr = find_tree(t, name, len);
        if (tr) return tr;
    }
    return NULL;
}

/* {{template "name" pipeline}}: the named tree runs with the pipeline's
 * value as dot and $, and none of the caller's variables. */
static int walk_template(exec_state *st, const tmpl_value *dot, const node *n) {
    st->at = n;
    const tree *tr = lookup_tree(st->t, n->u.call.name.p, n->u.call.name.n);
    if (!tr) {
        buf q = {0};
        go_quote(&q, n->u.call.name.p, n->u.call.name.n, 0, st->loc);
        buf_append(&q, "", 1);
        exec_errorf(st, "template %s not defined", (char *)q.data);
        buf_free(&q);
        return W_ERR;
    }
    if (st->depth >= st->max_depth) {
        exec_errorf(st, "exceeded maximum template depth (%u)", st->max_depth);
        return W_ERR;
    }
    const tmpl_value *v = eval_pipeline(st, dot, n->u.call.pipe);
    if (!v) return W_ERR;
    const tree *saved_tr = st->tr;
    size_t saved_frame = st->frame;
    st->tr = tr;
    st->frame = st->nvars;
    push_value(st, (str_ref){"$", 1}, v);
    st->depth++;
    int r = walk(st, v, tr->root);
    st->depth--;
    st->nvars = st->frame;
    st->frame = saved_frame;
    st->tr = saved_tr;
    return r == W_ERR ? W_ERR : W_OK;
}

/* Executes one node; returns W_OK, W_BREAK, W_CONTINUE or W_ERR.  Every
 * node counts a step and a level of nesting against the limits. */
static int walk(exec_state *st, const tmpl_value *dot, const node *n) {
    st->at = n;
    if (step(st)) return W_ERR;
    if (++st->nesting > MAX_EXEC_NESTING) {
        exec_errorf(st, "exceeded maximum template nesting (%u)", MAX_EXEC_NESTING);
        return W_ERR;
    }
    int r = W_OK;
    switch (n->type) {
    case N_ACTION: {
        const tmpl_value *v = eval_pipeline(st, dot, n->u.action);
        if (!v) r = W_ERR;
        else if (n->u.action->u.pipe.decl.n == 0) r = print_result(st, n, v);
        break;
    }
    case N_BREAK: r = W_BREAK; break;
    case N_CONTINUE: r = W_CONTINUE; break;
    case N_IF: case N_WITH: r = walk_if_with(st, dot, n); break;
    case N_LIST:
        for (size_t i = 0; i < n->u.list.n && r == W_OK; i++) r = walk(st, dot, n->u.list.v[i]);
        break;
    case N_RANGE: r = walk_range(st, dot, n); break;
    case N_TEMPLATE: r = walk_template(st, dot, n); break;
    case N_TEXT: r = emit_out(st, n->u.text.p, n->u.text.n); break;
    default: break;
    }
    st->nesting--;
    return r;
}

/* ------------------------------------------------------------ Go's builtins */

static const tmpl_value *fn_not(exec_state *st, const tmpl_value *recv, const tmpl_value *const *a, size_t n) {
    (void)st, (void)recv, (void)n;
    return tmpl_bool(!is_true(a[0]));
}

static const tmpl_value *fn_len(exec_state *st, const tmpl_value *recv, const tmpl_value *const *a, size_t n) {
    (void)recv, (void)n;
    const tmpl_value *v = a[0];
    if (v->kind == K_NIL) return call_errorf(st, "len of nil pointer");
    if (v->kind == K_STRING || v->kind == K_LIST || (v->kind == K_MAP && v->sub != M_STRUCT))
        return tmpl_int(st->arena, (int64_t)value_len(v));
    return call_errorf(st, "len of type %s", value_type_name(v));
}

/* Go's indexArg: an index into something of length cap. */
static int index_arg(exec_state *st, const tmpl_value *idx, size_t cap, int64_t *x) {
    if (idx->kind == K_NIL) {
        call_errorf(st, "cannot index slice/array with nil");
        return -1;
    }
    if (idx->kind != K_INT) {
        call_errorf(st, "cannot index slice/array with type %s", value_type_name(idx));
        return -1;
    }
    *x = idx->u.i;
    if (*x < 0 || (uint64_t)*x > cap) {
        call_errorf(st, "index out of range: %" PRId64, *x);
        return -1;
    }
    return 0;
}

/* Go's index: into lists and strings by int, maps by string (a missing
 * key gives the zero value), one level per index. */
static const tmpl_value *fn_index(exec_state *st, const tmpl_value *recv, const tmpl_value *const *a, size_t n) {
    (void)recv;
    const tmpl_value *item = a[0];
    if (item->kind == K_NIL) return call_errorf(st, "index of untyped nil");
    for (size_t k = 1; k < n; k++) {
        const tmpl_value *idx = a[k];
        if (item->kind == K_NIL) return call_errorf(st, "index of nil pointer");
        if (item->kind == K_LIST || item->kind == K_STRING) {
            int64_t x;
            if (index_arg(st, idx, item->n, &x)) return NULL;
            if ((size_t)x == item->n)
                return call_errorf(st, "reflect: %s index out of range", item->kind == K_LIST ? "slice" : "string");
            item = item->kind == K_LIST ? item->u.items[x] : tmpl_int(st->arena, (unsigned char)item->u.s[x]);
        } else if (item->kind == K_MAP && item->sub != M_STRUCT) {
            if (idx->kind == K_NIL) return call_errorf(st, "value is nil; should be of type string");
            if (idx->kind != K_STRING)
                return call_errorf(st, "value has type %s; should be string", value_type_name(idx));
            tmpl_value tmp;
            const tmpl_value *v = map_find(item, idx->u.s, idx->n, &tmp);
            item = v ? persist(st, v, &tmp) : map_zero(item);
        } else {
            return call_errorf(st, "can't index item of type %s", value_type_name(item));
        }
    }
    return item;
}

/* Go's slice: item[i:j] of a string or list (sharing the list's items). */
static const tmpl_value *fn_slice(exec_state *st, const tmpl_value *recv, const tmpl_value *const *a, size_t n) {
    (void)recv;
    const tmpl_value *item = a[0];
    size_t nidx = n - 1;
    if (item->kind == K_NIL) return call_errorf(st, "slice of untyped nil");
    if (nidx > 3) return call_errorf(st, "too many slice indexes: %zu", nidx);
    if (item->kind == K_STRING) {
        if (nidx == 3) return call_errorf(st, "cannot 3-index slice a string");
    } else if (item->kind != K_LIST) {
        return call_errorf(st, "can't slice item of type %s", value_type_name(item));
    }
    int64_t idx[3] = {0, (int64_t)item->n, (int64_t)item->n};
    for (size_t i = 0; i < nidx; i++)
        if (index_arg(st, a[1 + i], item->n, &idx[i])) return NULL;
    if (idx[0] > idx[1]) return call_errorf(st, "invalid slice index: %" PRId64 " > %" PRId64, idx[0], idx[1]);
    if (nidx == 3 && idx[1] > idx[2])
        return call_errorf(st, "invalid slice index: %" PRId64 " > %" PRId64, idx[1], idx[2]);
    if (item->kind == K_STRING) return new_string_value(st, item->u.s + idx[0], (size_t)(idx[1] - idx[0]));
    tmpl_value *l = value_new(st->arena, K_LIST);
    l->sub = item->sub;
    l->n = l->cap = (size_t)(idx[1] - idx[0]);
    l->u.items = item->u.items + idx[0];
    return l;
}

enum { BK_INVALID, BK_BOOL, BK_INT, BK_FLOAT, BK_STRING, BK_OTHER };

/* Go's basicKind, which decides what eq and lt may compare. */
static int basic_kind(const tmpl_value *v) {
    switch ((value_kind)v->kind) {
    case K_NIL: return BK_INVALID;
    case K_BOOL: return BK_BOOL;
    case K_INT: return BK_INT;
    case K_FLOAT: return BK_FLOAT;
    case K_STRING: return BK_STRING;
    default: return BK_OTHER;
    }
}

/* Go's eq: arg1 equal to any of the others.  1, 0, or -1 on error. */
static int eq_values(exec_state *st, const tmpl_value *a1, const tmpl_value *const *rest, size_t n) {
    if (n == 0) {
        call_errorf(st, "missing argument for comparison");
        return -1;
    }
    int k1 = basic_kind(a1);
    for (size_t i = 0; i < n; i++) {
        const tmpl_value *a = rest[i];
        int k2 = basic_kind(a), truth = 0;
        if (k1 != k2) {
            if (a1->kind != K_NIL && a->kind != K_NIL) {
                call_errorf(st, "incompatible types for comparison");
                return -1;
            }
        } else {
            switch (k1) {
            case BK_INVALID: truth = 1; break;
            case BK_BOOL: truth = a1->u.b == a->u.b; break;
            case BK_INT: truth = a1->u.i == a->u.i; break;
            case BK_FLOAT: truth = a1->u.f == a->u.f; break;
            case BK_STRING: truth = str_cmp(a1->u.s, a1->n, a->u.s, a->n) == 0; break;
            default: {
                if (a1->kind == K_TIME && a->kind == K_TIME) {
                    truth = a1->u.t.sec == a->u.t.sec && a1->u.t.nsec == a->u.t.nsec;
                } else if (a1->kind == K_MAP && a->kind == K_MAP && a1->sub == M_STRUCT && a->sub == M_STRUCT &&
                           a1->type_name[0] == '*' && strcmp(a1->type_name, a->type_name) == 0) {
                    truth = a1 == a;
                } else {
                    char t1[120], t2[120];
                    sprint_value(st, a1, t1, sizeof t1);
                    sprint_value(st, a, t2, sizeof t2);
                    if (strcmp(value_type_name(a1), value_type_name(a)) != 0)
                        call_errorf(st, "non-comparable types %s: %s, %s: %s", t1, value_type_name(a1),
                                    value_type_name(a), t2);
                    else
                        call_errorf(st, "non-comparable type %s: %s", t2, value_type_name(a));
                    return -1;
                }
            }
            }
        }
        if (truth) return 1;
    }
    return 0;
}

/* Go's lt.  1, 0, or -1 on error. */
static int lt_values(exec_state *st, const tmpl_value *a, const tmpl_value *b) {
    int k1 = basic_kind(a), k2 = basic_kind(b);
    if (k1 == BK_INVALID || k1 == BK_OTHER || k2 == BK_INVALID || k2 == BK_OTHER) {
        call_errorf(st, "invalid type for comparison");
        return -1;
    }
    if (k1 != k2) {
        call_errorf(st, "incompatible types for comparison");
        return -1;
    }
    switch (k1) {
    case BK_FLOAT: return a->u.f < b->u.f;
    case BK_INT: return a->u.i < b->u.i;
    case BK_STRING: return str_cmp(a->u.s, a->n, b->u.s, b->n) < 0;
    default: call_errorf(st, "invalid type for comparison"); return -1;
    }
}

static const tmpl_value *truth_result(int r) { return r < 0 ? NULL : tmpl_bool(r); }

static const tmpl_value *fn_eq(exec_state *st, const tmpl_value *recv, const tmpl_value *const *a, size_t n) {
    (void)recv;
    return truth_result(eq_values(st, a[0], a + 1, n - 1));
}

static const tmpl_value *fn_ne(exec_state *st, const tmpl_value *recv, const tmpl_value *const *a, size_t n) {
    (void)recv, (void)n;
    int r = eq_values(st, a[0], a + 1, 1);
    return truth_result(r < 0 ? r : !r);
}

static const tmpl_value *fn_lt(exec_state *st, const tmpl_value *recv, const tmpl_value *const *a, size_t n) {
    (void)recv, (void)n;
    return truth_result(lt_values(st, a[0], a[1]));
}

static int le_values(exec_state *st, const tmpl_value *a, const tmpl_value *b) {
    int r = lt_values(st, a, b);
    if (r != 0) return r;
    return eq_values(st, a, &b, 1);
}

static const tmpl_value *fn_le(exec_state *st, const tmpl_value *recv, const tmpl_value *const *a, size_t n) {
    (void)recv, (void)n;
    return truth_result(le_values(st, a[0], a[1]));
}

static const tmpl_value *fn_gt(exec_state *st, const tmpl_value *recv, const tmpl_value *const *a, size_t n) {
    (void)recv, (void)n;
    int r = le_values(st, a[0], a[1]);
    return truth_result(r < 0 ? r : !r);
}

static const tmpl_value *fn_ge(exec_state *st, const tmpl_value *recv, const tmpl_value *const *a, size_t n) {
    (void)recv, (void)n;
    int r = lt_values(st, a[0], a[1]);
    return truth_result(r < 0 ? r : !r);
}

/* print, println and printf: the formatted text as a string value, or
 * NULL when printing failed (a limit). */
typedef enum { PRINT_PLAIN, PRINT_LINE, PRINT_FORMAT } print_mode;

static const tmpl_value *print_to_string(exec_state *st, const tmpl_value *const *a, size_t n, print_mode mode) {
    buf b = {0};
    printer p;
    printer_init(&p, st, &b, memory_left(st));
    if (mode == PRINT_PLAIN) do_print(&p, a, n);
    else if (mode == PRINT_LINE) do_println(&p, a, n);
    else do_printf(&p, a[0]->u.s, a[0]->n, a + 1, n - 1);
    if (printer_failed(st, &p, 0)) {
        buf_free(&b);
        return NULL;
    }
    return str_result(st, &b);
}

static const tmpl_value *fn_print(exec_state *st, const tmpl_value *recv, const tmpl_value *const *a, size_t n) {
    (void)recv;
    return print_to_string(st, a, n, PRINT_PLAIN);
}

static const tmpl_value *fn_println(exec_state *st, const tmpl_value *recv, const tmpl_value *const *a, size_t n) {
    (void)recv;
    return print_to_string(st, a, n, PRINT_LINE);
}

static const tmpl_value *fn_printf(exec_state *st, const tmpl_value *recv, const tmpl_value *const *a, size_t n) {
    (void)recv;
    return print_to_string(st, a, n, PRINT_FORMAT);
}

/* Go's evalArgs for html, js and urlquery: one string as is, anything
 * else through fmt.Sprint (nil as "<no value>").  Returns -1 (an
 * execution error) when the printed arguments pass the memory limit. */
static int args_string(exec_state *st, const tmpl_value *const *a, size_t n, buf *out) {
    if (n == 1 && a[0]->kind == K_STRING) {
        buf_append(out, a[0]->u.s, a[0]->n);
        return 0;
    }
    static const tmpl_value no_value = {.kind = K_STRING, .n = 10, .u.s = "<no value>"};
    const tmpl_value *fixed[8];
    const tmpl_value **args = n <= 8 ? fixed : arena_alloc(st->arena, n * sizeof *args);
    for (size_t i = 0; i < n; i++) args[i] = a[i]->kind == K_NIL ? &no_value : a[i];
    printer p;
    printer_init(&p, st, out, memory_left(st));
    do_print(&p, args, n);
    return printer_failed(st, &p, 0);
}

/* template.HTMLEscapeString of the arguments. */
static const tmpl_value *fn_html(exec_state *st, const tmpl_value *recv, const tmpl_value *const *a, size_t n) {
    (void)recv;
    buf in = {0}, out = {0};
    if (args_string(st, a, n, &in)) {
        buf_free(&in);
        return NULL;
    }
    for (size_t i = 0; i < in.len; i++) {
        switch (in.data[i]) {
        case '"': buf_append(&out, "&#34;", 5); break;
        case '\'': buf_append(&out, "&#39;", 5); break;
        case '&': buf_append(&out, "&amp;", 5); break;
        case '<': buf_append(&out, "&lt;", 4); break;
        case '>': buf_append(&out, "&gt;", 4); break;
        case 0: buf_append(&out, "\xEF\xBF\xBD", 3); break;
        default: buf_append(&out, in.data + i, 1);
        }
    }
    buf_free(&in);
    return str_result(st, &out);
}

/* template.JSEscapeString: quotes, backslash, < > & = and control
 * characters escaped; printable non-ASCII kept. */
static const tmpl_value *fn_js(exec_state *st, const tmpl_value *recv, const tmpl_value *const *a, size_t n) {
    (void)recv;
    buf in = {0}, out = {0};
    if (args_string(st, a, n, &in)) {
        buf_free(&in);
        return NULL;
    }
    for (size_t i = 0; i < in.len;) {
        unsigned char c = in.data[i];
        if (c < 0x80) {
            switch (c) {
            case '\\': buf_append(&out, "\\\\", 2); break;
            case '\'': buf_append(&out, "\\'", 2); break;
            case '"': buf_append(&out, "\\\"", 2); break;
            case '<': buf_append(&out, "\\u003C", 6); break;
            case '>': buf_append(&out, "\\u003E", 6); break;
            case '&': buf_append(&out, "\\u0026", 6); break;
            case '=': buf_append(&out, "\\u003D", 6); break;
            default:
                if (c < ' ') buf_printf(&out, "\\u00%c%c", udigits[c >> 4], udigits[c & 0xF]);
                else buf_append(&out, &c, 1);
            }
            i++;
            continue;
        }
        uint32_t r;
        size_t w = utf8_decode(in.data + i, in.len - i, &r);
        if (rune_is_print(r, st->loc)) buf_append(&out, in.data + i, w);
        else buf_printf(&out, "\\u%04" PRIX32, r);
        i += w;
    }
    buf_free(&in);
    return str_result(st, &out);
}

/* url.QueryEscape. */
static void query_escape(buf *out, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
            c == '.' || c == '~')
            buf_append(out, &c, 1);
        else if (c == ' ') buf_append(out, "+", 1);
        else buf_printf(out, "%%%c%c", udigits[c >> 4], udigits[c & 0xF]);
    }
}

static const tmpl_value *fn_urlquery(exec_state *st, const tmpl_value *recv, const tmpl_value *const *a, size_t n) {
    (void)recv;
    buf in = {0}, out = {0};
    if (args_string(st, a, n, &in)) {
        buf_free(&in);
        return NULL;
    }
    query_escape(&out, (const char *)in.data, in.len);
    buf_free(&in);
    return str_result(st, &out);
}

/* ------------------------------------------------------------ strings */

/* Go's strings.ToUpper / ToLower: rune by rune, invalid bytes as U+FFFD. */
static const tmpl_value *map_runes(exec_state *st, const tmpl_value *s, int upper) {
    buf out = {0};
    for (size_t i = 0; i < s->n;) {
        uint32_t r;
        i += utf8_decode((const unsigned char *)s->u.s + i, s->n - i, &r);
        buf_rune(&out, upper ? rune_upper(r, st->loc) : rune_lower(r, st->loc));
    }
    return str_result(st, &out);
}

static const tmpl_value *fn_to_upper(exec_state *st, const tmpl_value *recv, const tmpl_value *const *a, size_t n) {
    (void)recv, (void)n;
    return map_runes(st, a[0], 1);
}

static const tmpl_value *fn_to_lower(exec_state *st, const tmpl_value *recv, const tmpl_value *const *a, size_t n) {
    (void)recv, (void)n;
    return map_runes(st, a[0], 0);
}

/* strings.Title: the first letter of each word upper-cased; words are
 * separated by anything but ASCII letters, digits and '_' and non-ASCII
 * letters and digits. */
static const tmpl_value *fn_title(exec_state *st, const tmpl_value *recv, const tmpl_value *const *a, size_t n) {
    (void)recv, (void)n;
    const tmpl_value *s = a[0];
    buf out = {0};
    uint32_t prev = ' ';
    for (size_t i = 0; i < s->n;) {
        uint32_t r;
        i += utf8_decode((const unsigned char *)s->u.s + i, s->n - i, &r);
        int separator;
        if (prev < 0x80) separator = !((prev >= '0' && prev <= '9') || ((prev | 0x20) >= 'a' && (prev | 0x20) <= 'z') ||
                                       prev == '_');
        else separator = !rune_is_alnum(prev, st->loc) && rune_is_space(prev, st->loc);
        buf_rune(&out, separator ? rune_upper(r, st->loc) : r);
        prev = r;
    }
    return str_result(st, &out);
}

/* strings.TrimSpace: Unicode white space off both ends (invalid UTF-8 is
 * not space). */
static const tmpl_value *fn_trim_space(exec_state *st, const tmpl_value *recv, const tmpl_value *const *a, size_t n) {
    (void)recv, (void)n;
    const char *s = a[0]->u.s;
    size_t start = 0, end = a[0]->n;
    while (start < end) {
        uint32_t r;
        size_t w = utf8_decode((const unsigned char *)s + start, end - start, &r);
        if (!rune_is_space(r, st->loc) || (w == 1 && r == RUNE_ERROR)) break;
        start += w;
    }
    while (end > start) {
        size_t k = end - 1;
        while (k > start && ((unsigned char)s[k] & 0xC0) == 0x80 && end - k < 4) k--;
        uint32_t r;
        size_t w = utf8_decode((const unsigned char *)s + k, end - k, &r);
        if (k + w != end) {
            k = end - 1;
            w = 1;
            r = RUNE_ERROR;
        }
        if (!rune_is_space(r, st->loc) || (w == 1 && r == RUNE_ERROR)) break;
        end = k;
    }
    return new_string_value(st, s + start, end - start);
}

static const tmpl_value *fn_safe_html(exec_state *st, const tmpl_value *recv, const tmpl_value *const *a, size_t n) {
    (void)st, (void)recv, (void)n;
    return a[0];
}

/* Alertmanager's join: strings.Join with the separator first. */
static const tmpl_value *fn_join(exec_state *st, const tmpl_value *recv, const tmpl_value *const *a, size_t n) {
    (void)recv, (void)n;
    const tmpl_value *sep = a[0], *list = a[1];
    buf out = {0};
    for (size_t i = 0; list->kind == K_LIST && i < list->n; i++) {
        if (i) buf_append(&out, sep->u.s, sep->n);
        buf_append(&out, list->u.items[i]->u.s, list->u.items[i]->n);
        if (out.len > st->max_memory) break;
    }
    return str_result(st, &out);
}

static const tmpl_value *fn_string_slice(exec_state *st, const tmpl_value *recv, const tmpl_value *const *a, size_t n) {
    (void)recv;
    tmpl_value *l = tmpl_list(st->arena, TMPL_LIST_STRINGS, n);
    for (size_t i = 0; i < n; i++) tmpl_list_push(st->arena, l, a[i]);
    return l;
}

/* ------------------------------------------------------------ regexps */

/* Go's quote in regexp messages: backquoted when possible. */
static void regexp_quote(buf *b, const char *s, size_t n, locale_t loc) {
    if (can_backquote(s, n)) {
        buf_append(b, "`", 1);
        buf_append(b, s, n);
        buf_append(b, "`", 1);
    } else {
        go_quote(b, s, n, 0, loc);
    }
}

/* Compiles a Go regular expression with PCRE2; on failure writes
 * "error parsing regexp: CODE: `EXPR`" into msg. */
static pcre2_code *regexp_compile(exec_state *st, const tmpl_value *pat, buf *msg) {
    pcre2_compile_context *cc = pcre2_compile_context_create(NULL);
    pcre2_set_newline(cc, PCRE2_NEWLINE_LF);
    int code;
    PCRE2_SIZE offset;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)(pat->n ? pat->u.s : ""), pat->n,
                                   PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | PCRE2_DOLLAR_ENDONLY | PCRE2_DUPNAMES, &code,
                                   &offset, cc);
    pcre2_compile_context_free(cc);
    if (re) return re;
    const char *what;
    char text[256];
    const char *expr = pat->u.s;
    size_t expr_len = pat->n;
    switch (code) {
    case PCRE2_ERROR_MISSING_CLOSING_PARENTHESIS: what = "missing closing )"; break;
    case PCRE2_ERROR_UNMATCHED_CLOSING_PARENTHESIS: what = "unexpected )"; break;
    case PCRE2_ERROR_MISSING_SQUARE_BRACKET: {
        what = "missing closing ]";
        for (size_t i = pat->n; i > 0; i--)
            if (pat->u.s[i - 1] == '[') {
                expr = pat->u.s + i - 1;
                expr_len = pat->n - (i - 1);
                break;
            }
        break;
    }
    case PCRE2_ERROR_QUANTIFIER_INVALID:
        what = "missing argument to repetition operator";
        if (offset > 0 && offset <= pat->n) {
            expr = pat->u.s + offset - 1;
            expr_len = 1;
        }
        break;
    default:
        pcre2_get_error_message(code, (PCRE2_UCHAR *)text, sizeof text);
        what = text;
    }
    buf_printf(msg, "error parsing regexp: %s: ", what);
    regexp_quote(msg, expr, expr_len, st->loc);
    return NULL;
}

/* regexp.MatchString: unanchored. */
static const tmpl_value *fn_match(exec_state *st, const tmpl_value *recv, const tmpl_value *const *a, size_t n) {
    (void)recv, (void)n;
    buf msg = {0};
    pcre2_code *re = regexp_compile(st, a[0], &msg);
    if (!re) {
        buf_append(&msg, "", 1);
        call_errorf(st, "%s", (char *)msg.data);
        buf_free(&msg);
        return NULL;
    }
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    int rc = pcre2_match(re, (PCRE2_SPTR)(a[1]->n ? a[1]->u.s : ""), a[1]->n, 0, 0, md, NULL);
    pcre2_match_data_free(md);
    pcre2_code_free(re);
    return tmpl_bool(rc >= 0);
}

/* Regexp.Expand of a replacement template for one match: $1, ${1},
 * $name, ${name}, $$; a reference to no group expands to nothing. */
static void regexp_expand(exec_state *st, buf *out, const tmpl_value *tmpl_text, const char *src, pcre2_code *re,
                          const PCRE2_SIZE *ov, uint32_t ngroups) {
    const char *t = tmpl_text->u.s;
    size_t n = tmpl_text->n;
    uint32_t name_count = 0, entry_size = 0;
    PCRE2_SPTR table = NULL;
    pcre2_pattern_info(re, PCRE2_INFO_NAMECOUNT, &name_count);
    pcre2_pattern_info(re, PCRE2_INFO_NAMEENTRYSIZE, &entry_size);
    pcre2_pattern_info(re, PCRE2_INFO_NAMETABLE, &table);
    size_t i = 0;
    while (i < n) {
        const char *dollar = memchr(t + i, '$', n - i);
        if (!dollar) break;
        size_t d = (size_t)(dollar - t);
        buf_append(out, t + i, d - i);
        i = d + 1;
        if (i < n && t[i] == '$') {
            buf_append(out, "$", 1);
            i++;
            continue;
        }
        /* extract(): a name of letters, digits and '_', maybe in braces. */
        size_t k = i;
        int brace = k < n && t[k] == '{';
        if (brace) k++;
        size_t name_start = k;
        while (k < n) {
            uint32_t r;
            size_t w = utf8_decode((const unsigned char *)t + k, n - k, &r);
            if (!(r == '_' || rune_is_alnum(r, st->loc))) break;
            k += w;
        }
        size_t name_len = k - name_start;
        if (name_len == 0 || (brace && (k >= n || t[k] != '}'))) {
            buf_append(out, "$", 1);
            continue;
        }
        if (brace) k++;
        const char *name = t + name_start;
        long num = 0;
        for (size_t j = 0; j < name_len; j++) {
            if (name[j] < '0' || name[j] > '9' || num >= 100000000) {
                num = -1;
                break;
            }
            num = num * 10 + (name[j] - '0');
        }
        if (name[0] == '0' && name_len > 1) num = -1;
        i = k;
        if (num >= 0) {
            if ((uint32_t)num <= ngroups && ov[2 * num] != PCRE2_UNSET)
                buf_append(out, src + ov[2 * num], ov[2 * num + 1] - ov[2 * num]);
            continue;
        }
        for (uint32_t e = 0; e < name_count; e++) {
            PCRE2_SPTR entry = table + (size_t)e * entry_size;
            uint32_t group = ((uint32_t)entry[0] << 8) | entry[1];
            const char *ename = (const char *)entry + 2;
            if (strlen(ename) == name_len && memcmp(ename, name, name_len) == 0 && ov[2 * group] != PCRE2_UNSET) {
                buf_append(out, src + ov[2 * group], ov[2 * group + 1] - ov[2 * group]);
                break;
            }
        }
    }
    buf_append(out, t + i, n - i);
}

/* regexp.MustCompile(pattern).ReplaceAllString(text, repl): Go's
 * replaceAll loop, which never replaces an empty match right after a
 * previous match and always advances by at least one rune. */
static const tmpl_value *fn_re_replace_all(exec_state *st, const tmpl_value *recv, const tmpl_value *const *a,
                                           size_t n) {
    (void)recv, (void)n;
    buf msg = {0};
    pcre2_code *re = regexp_compile(st, a[0], &msg);
    if (!re) {
        buf q = {0};
        regexp_quote(&q, a[0]->u.s, a[0]->n, st->loc);
        buf_append(&q, "", 1);
        buf_append(&msg, "", 1);
        call_errorf(st, "regexp: Compile(%s): %s", (char *)q.data, (char *)msg.data);
        buf_free(&q);
        buf_free(&msg);
        return NULL;
    }
    const char *src = a[2]->n ? a[2]->u.s : "";
    size_t len = a[2]->n;
    uint32_t ngroups = 0;
    pcre2_pattern_info(re, PCRE2_INFO_CAPTURECOUNT, &ngroups);
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    buf out = {0};
    size_t search = 0, last_end = 0;
    int too_big = 0;
    while (search <= len) {
        int rc = pcre2_match(re, (PCRE2_SPTR)src, len, search, 0, md, NULL);
        if (rc < 0) break;
        const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        buf_append(&out, src + last_end, ov[0] - last_end);
        if (ov[1] > last_end || ov[0] == 0) regexp_expand(st, &out, a[1], src, re, ov, ngroups);
        last_end = ov[1];
        size_t width = 0;
        if (search < len) {
            uint32_t r;
            width = utf8_decode((const unsigned char *)src + search, len - search, &r);
        }
        if (search + width > ov[1]) search += width;
        else if (search + 1 > ov[1]) search++;
        else search = ov[1];
        if (out.len > st->max_memory) {
            too_big = 1;
            break;
        }
        if (width == 0 && search > len) break;
    }
    if (!too_big) buf_append(&out, src + last_end, len - last_end);
    pcre2_match_data_free(md);
    pcre2_code_free(re);
    return str_result(st, &out);
}

/* ------------------------------------------------------------ Prometheus */

/* Prometheus's convertToFloat: float64, int or a string strconv parses. */
static int convert_to_float(exec_state *st, const tmpl_value *v, double *f) {
    switch ((value_kind)v->kind) {
    case K_FLOAT: *f = v->u.f; return 0;
    case K_INT: *f = (double)v->u.i; return 0;
    case K_STRING: {
        int rc = go_parse_float(v->u.s, v->n, f);
        if (rc == 0) return 0;
        buf q = {0};
        go_quote(&q, v->u.s, v->n, 0, st->loc);
        buf_append(&q, "", 1);
        call_errorf(st, "strconv.ParseFloat: parsing %s: %s", (char *)q.data,
                    rc == -2 ? "value out of range" : "invalid syntax");
        buf_free(&q);
        return -1;
    }
    default: call_errorf(st, "can't convert %s to float", value_type_name(v)); return -1;
    }
}

/* The humanize functions' prefixes: divides *v by step while it is at
 * least step (at most 8 times) and returns the unit reached ("" for
 * none); scale_up multiplies by 1000 while |*v| < 1, returning m..y. */
static const char *scale_down(double *v, double step, const char *const units[8]) {
    const char *prefix = "";
    for (size_t i = 0; i < 8 && fabs(*v) >= step; i++) {
        prefix = units[i];
        *v /= step;
    }
    return prefix;
}

static const char *scale_up(double *v) {
    static const char *const small[] = {"m", "u", "n", "p", "f", "a", "z", "y"};
    const char *prefix = "";
    for (size_t i = 0; i < 8 && fabs(*v) < 1; i++) {
        prefix = small[i];
        *v *= 1000;
    }
    return prefix;
}

/* Prometheus's humanize: SI prefixes k..Y and m..y, 4 significant digits. */
static const tmpl_value *fn_humanize(exec_state *st, const tmpl_value *recv, const tmpl_value *const *a, size_t n) {
    (void)recv, (void)n;
    double v;
    if (convert_to_float(st, a[0], &v)) return NULL;
    buf b = {0};
    if (v == 0 || isnan(v) || isinf(v)) {
        format_g(&b, v, 4);
        return str_result(st, &b);
    }
    static const char *const big[] = {"k", "M", "G", "T", "P", "E", "Z", "Y"};
    const char *prefix = fabs(v) >= 1 ? scale_down(&v, 1000, big) : scale_up(&v);
    format_g(&b, v, 4);
    buf_printf(&b, "%s", prefix);
    return str_result(st, &b);
}

/* Prometheus's humanize1024: binary prefixes ki..Yi above 1. */
static const tmpl_value *fn_humanize1024(exec_state *st, const tmpl_value *recv, const tmpl_value *const *a,
                                         size_t n) {
    (void)recv, (void)n;
    double v;
    if (convert_to_float(st, a[0], &v)) return NULL;
    buf b = {0};
    if (fabs(v) <= 1 || isnan(v) || isinf(v)) {
        format_g(&b, v, 4);
        return str_result(st, &b);
    }
    static const char *const units[] = {"ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"};
    const char *prefix = scale_down(&v, 1024, units);
    format_g(&b, v, 4);
    buf_printf(&b, "%s", prefix);
    return str_result(st, &b);
}

/* Prometheus's humanizeDuration: "1d 2h 3m 4s" from a minute up (whole
 * seconds, truncated as Go's int64 conversion does), 4 digits of seconds
 * below, ms/us/ns... below one second. */
static const tmpl_value *fn_humanize_duration(exec_state *st, const tmpl_value *recv, const tmpl_value *const *a,
                                              size_t n) {
    (void)recv, (void)n;
    double v;
    if (convert_to_float(st, a[0], &v)) return NULL;
    buf b = {0};
    if (isnan(v) || isinf(v)) {
        format_g(&b, v, 4);
        return str_result(st, &b);
    }
    if (v == 0) {
        format_g(&b, v, 4);
        buf_append(&b, "s", 1);
        return str_result(st, &b);
    }
    if (fabs(v) >= 1) {
        const char *sign = "";
        if (v < 0) {
            sign = "-";
            v = -v;
        }
        int64_t whole = go_int64(v);
        int64_t seconds = whole % 60, minutes = (whole / 60) % 60, hours = (whole / 60 / 60) % 24,
                days = whole / 60 / 60 / 24;
        if (days != 0)
            buf_printf(&b, "%s%" PRId64 "d %" PRId64 "h %" PRId64 "m %" PRId64 "s", sign, days, hours, minutes, seconds);
        else if (hours != 0)
            buf_printf(&b, "%s%" PRId64 "h %" PRId64 "m %" PRId64 "s", sign, hours, minutes, seconds);
        else if (minutes != 0) buf_printf(&b, "%s%" PRId64 "m %" PRId64 "s", sign, minutes, seconds);
        else {
            buf_printf(&b, "%s", sign);
            format_g(&b, v, 4);
            buf_append(&b, "s", 1);
        }
        return str_result(st, &b);
    }
    const char *prefix = scale_up(&v);
    format_g(&b, v, 4);
    buf_printf(&b, "%ss", prefix);
    return str_result(st, &b);
}

/* Prometheus's humanizePercentage: a ratio as %.4g%%. */
static const tmpl_value *fn_humanize_percentage(exec_state *st, const tmpl_value *recv, const tmpl_value *const *a,
                                                size_t n) {
    (void)recv, (void)n;
    double v;
    if (convert_to_float(st, a[0], &v)) return NULL;
    buf b = {0};
    format_g(&b, v * 100, 4);
    buf_append(&b, "%", 1);
    return str_result(st, &b);
}

/* Prometheus's floatToTime: seconds to a time via int64 nanoseconds
 * truncated to milliseconds (model.TimeFromUnixNano). */
static int float_to_time(exec_state *st, double v, int64_t *sec, int32_t *nsec) {
    double ts = v * 1e9;
    if (ts > 9223372036854775807.0 || ts < -9223372036854775808.0) {
        char text[FLOAT_TEXT_MAX];
        call_errorf(st, "%s cannot be represented as a nanoseconds timestamp since it overflows int64",
                    format_float(v, text));
        return -1;
    }
    int64_t ms = go_int64(ts) / 1000000;
    *sec = ms / 1000;
    int64_t frac = ms % 1000;
    if (frac < 0) {
        frac += 1000;
        (*sec)--;
    }
    *nsec = (int32_t)(frac * 1000000);
    return 0;
}

/* Prometheus's humanizeTimestamp: Unix seconds as Go's Time.String(). */
static const tmpl_value *fn_humanize_timestamp(exec_state *st, const tmpl_value *recv, const tmpl_value *const *a,
                                               size_t n) {
    (void)recv, (void)n;
    double v;
    if (convert_to_float(st, a[0], &v)) return NULL;
    buf b = {0};
    if (isnan(v) || isinf(v)) {
        format_g(&b, v, 4);
        return str_result(st, &b);
    }
    int64_t sec;
    int32_t nsec;
    if (float_to_time(st, v, &sec, &nsec)) return NULL;
    tmpl_value t = {.kind = K_TIME, .u.t = {sec, nsec}};
    time_string(&b, &t);
    return str_result(st, &b);
}

/* Prometheus's toTime: Unix seconds as a time value. */
static const tmpl_value *fn_to_time(exec_state *st, const tmpl_value *recv, const tmpl_value *const *a, size_t n) {
    (void)recv, (void)n;
    double v;
    if (convert_to_float(st, a[0], &v)) return NULL;
    if (isnan(v) || isinf(v)) return call_errorf(st, "value is NaN or Inf");
    int64_t sec;
    int32_t nsec;
    if (float_to_time(st, v, &sec, &nsec)) return NULL;
    return tmpl_time(st->arena, sec, nsec);
}

/* Prometheus's parseDuration: a duration ("1h30m") in seconds, with
 * model.ParseDuration's messages. */
static const tmpl_value *fn_parse_duration(exec_state *st, const tmpl_value *recv, const tmpl_value *const *a,
                                           size_t n) {
    (void)recv, (void)n;
    const tmpl_value *s = a[0];
    if (s->n == 0) return call_errorf(st, "empty duration string");
    char *copy = xstrndup(s->u.s, s->n);
    int64_t ms;
    int rc = memchr(s->u.s, 0, s->n) ? -1 : parse_duration(copy, &ms);
    free(copy);
    if (rc != 0) {
        buf q = {0};
        go_quote(&q, s->u.s, s->n, 0, st->loc);
        buf_append(&q, "", 1);
        call_errorf(st, "not a valid duration string: %s", (char *)q.data);
        buf_free(&q);
        return NULL;
    }
    double secs = ms <= INT64_MAX / 1000000 ? (double)(ms * 1000000) / 1e9 : (double)ms / 1e3;
    return tmpl_float(st->arena, secs);
}

/* A sample's field, or an error for a nil sample (Go would dereference a
 * nil pointer). */
static const tmpl_value *sample_field(exec_state *st, const tmpl_value *s, const char *field, tmpl_value *tmp) {
    if (s->kind == K_NIL) return call_errorf(st, "runtime error: invalid memory address or nil pointer dereference");
    const tmpl_value *v = map_find(s, field, strlen(field), tmp);
    return v ? v : &nil_value;
}

static const tmpl_value *sample_label(exec_state *st, const tmpl_value *s, const char *name, size_t len) {
    tmpl_value tmp, tmp2;
    const tmpl_value *labels = sample_field(st, s, "Labels", &tmp);
    if (!labels) return NULL;
    if (labels->kind != K_MAP) return &empty_string_value;
    const tmpl_value *v = map_find(labels, name, len, &tmp2);
    return v ? persist(st, v, &tmp2) : &empty_string_value;
}

static const tmpl_value *fn_query(exec_state *st, const tmpl_value *recv, const tmpl_value *const *a, size_t n) {
    (void)recv, (void)n;
    if (!st->o->query) return call_errorf(st, "queries are not available here");
    errbuf e = {{0}};
    const tmpl_value *out = NULL;
    if (st->o->query(st->o->query_ctx, a[0]->n ? a[0]->u.s : "", a[0]->n, st->arena, &out, &e) != 0)
        return call_errorf(st, "%s", e.msg);
    return out ? out : tmpl_list(st->arena, TMPL_LIST_SAMPLES, 0);
}

static const tmpl_value *fn_first(exec_state *st, const tmpl_value *recv, const tmpl_value *const *a, size_t n) {
    (void)recv, (void)n;
    if (a[0]->kind != K_LIST || a[0]->n == 0) return call_errorf(st, "first() called on vector with no elements");
    return a[0]->u.items[0];
}

static const tmpl_value *fn_label(exec_state *st, const tmpl_value *recv, const tmpl_value *const *a, size_t n) {
    (void)recv, (void)n;
    return sample_label(st, a[1], a[0]->u.s, a[0]->n);
}

static const tmpl_value *fn_value(exec_state *st, const tmpl_value *recv, const tmpl_value *const *a, size_t n) {
    (void)recv, (void)n;
    tmpl_value tmp;
    const tmpl_value *v = sample_field(st, a[0], "Value", &tmp);
    return v ? persist(st, v, &tmp) : NULL;
}

static const tmpl_value *fn_strvalue(exec_state *st, const tmpl_value *recv, const tmpl_value *const *a, size_t n) {
    (void)recv, (void)n;
    return sample_label(st, a[0], "__value__", 9);
}

/* Prometheus's args: the arguments as a map arg0, arg1, ... (for passing
 * several values to a {{template}}). */
static const tmpl_value *fn_args(exec_state *st, const tmpl_value *recv, const tmpl_value *const *a, size_t n) {
    (void)recv;
    tmpl_value *m = tmpl_map(st->arena, TMPL_MAP_ANY, n);
    for (size_t i = 0; i < n; i++) {
        char key[32];
        int k = snprintf(key, sizeof key, "arg%zu", i);
        tmpl_map_put(st->arena, m, arena_strndup(st->arena, key, (size_t)k), (size_t)k, a[i]);
    }
    return m;
}

/* sortByLabel: a stable merge sort of the samples by one label. */
static const tmpl_value *fn_sort_by_label(exec_state *st, const tmpl_value *recv, const tmpl_value *const *a,
                                          size_t n) {
    (void)recv, (void)n;
    const tmpl_value *list = a[1];
    size_t count = list->kind == K_LIST ? list->n : 0;
    tmpl_value *out = tmpl_list(st->arena, list->kind == K_LIST ? (tmpl_list_type)list->sub : TMPL_LIST_SAMPLES, count);
    if (count == 0) return out;
    const tmpl_value **keys = xmalloc(2 * count * sizeof *keys);
    const tmpl_value **items = xmalloc(2 * count * sizeof *items);
    for (size_t i = 0; i < count; i++) {
        items[i] = list->u.items[i];
        keys[i] = items[i]->kind == K_MAP ? sample_label(st, items[i], a[0]->u.s, a[0]->n) : &empty_string_value;
        if (!keys[i]) keys[i] = &empty_string_value;
    }
    const tmpl_value **ksrc = keys, **kdst = keys + count, **isrc = items, **idst = items + count;
    for (size_t width = 1; width < count; width *= 2) {
        for (size_t lo = 0; lo < count; lo += 2 * width) {
            size_t mid = lo + width < count ? lo + width : count;
            size_t hi = lo + 2 * width < count ? lo + 2 * width : count;
            size_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi) {
                if (str_cmp(ksrc[j]->u.s, ksrc[j]->n, ksrc[i]->u.s, ksrc[i]->n) < 0) {
                    kdst[k] = ksrc[j];
                    idst[k++] = isrc[j++];
                } else {
                    kdst[k] = ksrc[i];
                    idst[k++] = isrc[i++];
                }
            }
            while (i < mid) { kdst[k] = ksrc[i]; idst[k++] = isrc[i++]; }
            while (j < hi) { kdst[k] = ksrc[j]; idst[k++] = isrc[j++]; }
        }
        const tmpl_value **t = ksrc; ksrc = kdst; kdst = t;
        t = isrc; isrc = idst; idst = t;
    }
    for (size_t i = 0; i < count; i++) tmpl_list_push(st->arena, out, isrc[i]);
    free(keys);
    free(items);
    return out;
}

/* net.SplitHostPort.  Returns 0 with host and port, or -1. */
static int split_host_port(const char *s, size_t n, str_ref *host, str_ref *port) {
    const char *colon = NULL;
    for (size_t i = n; i > 0; i--)
        if (s[i - 1] == ':') {
            colon = s + i - 1;
            break;
        }
    if (!colon) return -1;
    size_t i = (size_t)(colon - s), j = 0, k = 0;
    if (n && s[0] == '[') {
        const char *close = memchr(s, ']', n);
        if (!close) return -1;
        size_t end = (size_t)(close - s);
        if (end + 1 == n) return -1;
        if (end + 1 != i) return -1;
        *host = (str_ref){s + 1, end - 1};
        j = 1;
        k = end + 1;
    } else {
        *host = (str_ref){s, i};
        if (memchr(s, ':', i)) return -1;
    }
    if (memchr(s + j, '[', n - j)) return -1;
    if (memchr(s + k, ']', n - k)) return -1;
    *port = (str_ref){s + i + 1, n - i - 1};
    return 0;
}

/* net.ParseIP: an IPv4 or IPv6 address. */
static int is_ip(const char *s, size_t n) {
    char tmp[64];
    if (n == 0 || n >= sizeof tmp || memchr(s, 0, n)) return 0;
    memcpy(tmp, s, n);
    tmp[n] = 0;
    unsigned char addr[16];
    return inet_pton(AF_INET, tmp, addr) == 1 || inet_pton(AF_INET6, tmp, addr) == 1;
}

static const tmpl_value *fn_strip_port(exec_state *st, const tmpl_value *recv, const tmpl_value *const *a, size_t n) {
    (void)recv, (void)n;
    str_ref host, port;
    if (split_host_port(a[0]->u.s, a[0]->n, &host, &port) != 0) return a[0];
    return new_string_value(st, host.p, host.n);
}

/* Prometheus's stripDomain: a host name cut at its first dot, the port
 * kept; IP addresses unchanged. */
static const tmpl_value *fn_strip_domain(exec_state *st, const tmpl_value *recv, const tmpl_value *const *a,
                                         size_t n) {
    (void)recv, (void)n;
    str_ref host, port = {"", 0};
    if (split_host_port(a[0]->u.s, a[0]->n, &host, &port) != 0) {
        host = (str_ref){a[0]->u.s, a[0]->n};
        port = (str_ref){"", 0};
    }
    if (is_ip(host.p, host.n)) return a[0];
    const char *dot = host.n ? memchr(host.p, '.', host.n) : NULL;
    if (dot) host.n = (size_t)(dot - host.p);
    if (port.n == 0) return new_string_value(st, host.p, host.n);
    buf b = {0};
    int brackets = memchr(host.p, ':', host.n) != NULL;
    if (brackets) buf_append(&b, "[", 1);
    buf_append(&b, host.p, host.n);
    buf_append(&b, brackets ? "]:" : ":", brackets ? 2 : 1);
    buf_append(&b, port.p, port.n);
    return str_result(st, &b);
}

static const tmpl_value *link_for(exec_state *st, const tmpl_value *expr, int tab) {
    buf b = {0};
    buf_append(&b, "/graph?g0.expr=", 15);
    query_escape(&b, expr->u.s, expr->n);
    buf_printf(&b, "&g0.tab=%d", tab);
    return str_result(st, &b);
}

static const tmpl_value *fn_graph_link(exec_state *st, const tmpl_value *recv, const tmpl_value *const *a, size_t n) {
    (void)recv, (void)n;
    return link_for(st, a[0], 0);
}

static const tmpl_value *fn_table_link(exec_state *st, const tmpl_value *recv, const tmpl_value *const *a, size_t n) {
    (void)recv, (void)n;
    return link_for(st, a[0], 1);
}

static const tmpl_value *fn_external_url(exec_state *st, const tmpl_value *recv, const tmpl_value *const *a,
                                         size_t n) {
    (void)recv, (void)a, (void)n;
    const char *u = st->o->external_url ? st->o->external_url : "";
    return new_string_value(st, u, strlen(u));
}

/* The path of the external URL (url.URL.Path). */
static const tmpl_value *fn_path_prefix(exec_state *st, const tmpl_value *recv, const tmpl_value *const *a,
                                        size_t n) {
    (void)recv, (void)a, (void)n;
    const char *u = st->o->external_url ? st->o->external_url : "";
    const char *p = strstr(u, "://");
    if (p) {
        p += 3;
        p += strcspn(p, "/?#");
    } else {
        p = u;
    }
    return new_string_value(st, p, strcspn(p, "?#"));
}

/* ------------------------------------------------------------ methods */

/* KV's keys in SortedPairs order: alertname first, then by name. */
static size_t kv_order(const tmpl_value *m, size_t *order) {
    size_t k = 0;
    for (size_t i = 0; i < m->n; i++) {
        str_ref key;
        const tmpl_value *val;
        tmpl_value tmp;
        map_item(m, i, &key, &val, &tmp);
        if (key.n == 9 && memcmp(key.p, "alertname", 9) == 0) order[k++] = i;
    }
    for (size_t i = 0; i < m->n; i++) {
        str_ref key;
        const tmpl_value *val;
        tmpl_value tmp;
        map_item(m, i, &key, &val, &tmp);
        if (!(key.n == 9 && memcmp(key.p, "alertname", 9) == 0)) order[k++] = i;
    }
    return k;
}

/* KV.SortedPairs, .Names (what 1) and .Values (what 2). */
static const tmpl_value *kv_pairs(exec_state *st, const tmpl_value *m, int what) {
    size_t *order = xmalloc((m->n ? m->n : 1) * sizeof *order);
    size_t count = kv_order(m, order);
    tmpl_value *out = tmpl_list(st->arena, what ? TMPL_LIST_STRINGS : TMPL_LIST_PAIRS, count);
    for (size_t i = 0; i < count; i++) {
        str_ref key;
        const tmpl_value *val;
        tmpl_value tmp;
        map_item(m, order[i], &key, &val, &tmp);
        const tmpl_value *name = new_string_value(st, key.p, key.n), *value = persist(st, val, &tmp);
        if (what == 1) tmpl_list_push(st->arena, out, name);
        else if (what == 2) tmpl_list_push(st->arena, out, value);
        else {
            tmpl_value *pair = tmpl_struct(st->arena, "template.Pair", 2);
            tmpl_map_put(st->arena, pair, "Name", 4, name);
            tmpl_map_put(st->arena, pair, "Value", 5, value);
            tmpl_list_push(st->arena, out, pair);
        }
    }
    free(order);
    return out;
}

static const tmpl_value *m_sorted_pairs(exec_state *st, const tmpl_value *recv, const tmpl_value *const *a, size_t n) {
    (void)a, (void)n;
    return kv_pairs(st, recv, 0);
}

static const tmpl_value *m_kv_names(exec_state *st, const tmpl_value *recv, const tmpl_value *const *a, size_t n) {
    (void)a, (void)n;
    return kv_pairs(st, recv, 1);
}

static const tmpl_value *m_kv_values(exec_state *st, const tmpl_value *recv, const tmpl_value *const *a, size_t n) {
    (void)a, (void)n;
    return kv_pairs(st, recv, 2);
}

/* KV.Remove: a copy without the given keys. */
static const tmpl_value *m_kv_remove(exec_state *st, const tmpl_value *recv, const tmpl_value *const *a, size_t n) {
    (void)n;
    const tmpl_value *keys = a[0];
    tmpl_value *out = tmpl_map(st->arena, TMPL_MAP_KV, recv->n);
    for (size_t i = 0; i < recv->n; i++) {
        str_ref key;
        const tmpl_value *val;
        tmpl_value tmp;
        map_item(recv, i, &key, &val, &tmp);
        int removed = 0;
        for (size_t k = 0; keys->kind == K_LIST && k < keys->n && !removed; k++)
            removed = str_cmp(keys->u.items[k]->u.s, keys->u.items[k]->n, key.p, key.n) == 0;
        if (!removed) tmpl_map_put(st->arena, out, key.p, key.n, persist(st, val, &tmp));
    }
    return out;
}

/* Pairs.Names (field "Name") and Pairs.Values (field "Value"). */
static const tmpl_value *pairs_field(exec_state *st, const tmpl_value *recv, const char *field) {
    tmpl_value *out = tmpl_list(st->arena, TMPL_LIST_STRINGS, recv->n);
    for (size_t i = 0; i < recv->n; i++) {
        tmpl_value tmp;
        const tmpl_value *item = recv->u.items[i];
        const tmpl_value *v = item->kind == K_MAP ? map_find(item, field, strlen(field), &tmp) : NULL;
        tmpl_list_push(st->arena, out, v ? persist(st, v, &tmp) : &empty_string_value);
    }
    return out;
}

static const tmpl_value *m_pairs_names(exec_state *st, const tmpl_value *recv, const tmpl_value *const *a, size_t n) {
    (void)a, (void)n;
    return pairs_field(st, recv, "Name");
}

static const tmpl_value *m_pairs_values(exec_state *st, const tmpl_value *recv, const tmpl_value *const *a, size_t n) {
    (void)a, (void)n;
    return pairs_field(st, recv, "Value");
}

/* Alerts.Firing / Alerts.Resolved: the alerts with that Status. */
static const tmpl_value *alerts_with_status(exec_state *st, const tmpl_value *recv, const char *status) {
    tmpl_value *out = tmpl_list(st->arena, TMPL_LIST_ANY, 0);
    for (size_t i = 0; i < recv->n; i++) {
        tmpl_value tmp;
        const tmpl_value *item = recv->u.items[i];
        const tmpl_value *s = item->kind == K_MAP ? map_find(item, "Status", 6, &tmp) : NULL;
        if (s && s->kind == K_STRING && str_cmp(s->u.s, s->n, status, strlen(status)) == 0)
            tmpl_list_push(st->arena, out, item);
    }
    return out;
}

static const tmpl_value *m_firing(exec_state *st, const tmpl_value *recv, const tmpl_value *const *a, size_t n) {
    (void)a, (void)n;
    return alerts_with_status(st, recv, "firing");
}

static const tmpl_value *m_resolved(exec_state *st, const tmpl_value *recv, const tmpl_value *const *a, size_t n) {
    (void)a, (void)n;
    return alerts_with_status(st, recv, "resolved");
}

static const tmpl_value *m_time_format(exec_state *st, const tmpl_value *recv, const tmpl_value *const *a, size_t n) {
    (void)n;
    buf b = {0};
    time_format(&b, recv->u.t.sec, recv->u.t.nsec, a[0]->u.s, a[0]->n);
    return str_result(st, &b);
}

static const tmpl_value *m_time_unix(exec_state *st, const tmpl_value *recv, const tmpl_value *const *a, size_t n) {
    (void)a, (void)n;
    return tmpl_int(st->arena, recv->u.t.sec);
}

static const tmpl_value *m_time_unix_milli(exec_state *st, const tmpl_value *recv, const tmpl_value *const *a,
                                           size_t n) {
    (void)a, (void)n;
    /* Wrapping (unsigned) arithmetic: Go's result is undefined out of range
     * too, but C's signed overflow would be undefined behaviour. */
    return tmpl_int(st->arena, (int64_t)((uint64_t)recv->u.t.sec * 1000u + (uint64_t)(recv->u.t.nsec / 1000000)));
}

static const tmpl_value *m_time_unix_nano(exec_state *st, const tmpl_value *recv, const tmpl_value *const *a,
                                          size_t n) {
    (void)a, (void)n;
    return tmpl_int(st->arena, (int64_t)((uint64_t)recv->u.t.sec * 1000000000u + (uint64_t)recv->u.t.nsec));
}

static const tmpl_value *m_time_self(exec_state *st, const tmpl_value *recv, const tmpl_value *const *a, size_t n) {
    (void)st, (void)a, (void)n;
    return recv;
}

static const tmpl_value *m_time_is_zero(exec_state *st, const tmpl_value *recv, const tmpl_value *const *a,
                                        size_t n) {
    (void)st, (void)a, (void)n;
    return tmpl_bool(recv->u.t.sec == -62135596800LL && recv->u.t.nsec == 0);
}

static const tmpl_value *m_time_string(exec_state *st, const tmpl_value *recv, const tmpl_value *const *a,
                                       size_t n) {
    (void)a, (void)n;
    buf b = {0};
    time_string(&b, recv);
    return str_result(st, &b);
}

/* ------------------------------------------------------------ tables */

#define ALL FAM_GO
#define PROM TMPL_FUNCS_PROMETHEUS
#define AM TMPL_FUNCS_ALERTMANAGER

static const func_def functions[] = {
    {"and", ALL, 1, 1, FN_AND, {P_ANY}, P_ANY, NULL},
    {"or", ALL, 1, 1, FN_OR, {P_ANY}, P_ANY, NULL},
    {"not", ALL, 1, 0, 0, {P_ANY}, P_ANY, fn_not},
    {"len", ALL, 1, 0, 0, {P_ANY}, P_ANY, fn_len},
    {"index", ALL, 1, 1, 0, {P_ANY}, P_ANY, fn_index},
    {"slice", ALL, 1, 1, 0, {P_ANY}, P_ANY, fn_slice},
    {"eq", ALL, 1, 1, 0, {P_ANY}, P_ANY, fn_eq},
    {"ne", ALL, 2, 0, 0, {P_ANY, P_ANY}, P_ANY, fn_ne},
    {"lt", ALL, 2, 0, 0, {P_ANY, P_ANY}, P_ANY, fn_lt},
    {"le", ALL, 2, 0, 0, {P_ANY, P_ANY}, P_ANY, fn_le},
    {"gt", ALL, 2, 0, 0, {P_ANY, P_ANY}, P_ANY, fn_gt},
    {"ge", ALL, 2, 0, 0, {P_ANY, P_ANY}, P_ANY, fn_ge},
    {"print", ALL, 0, 1, 0, {P_ANY}, P_ANY, fn_print},
    {"printf", ALL, 1, 1, 0, {P_STRING}, P_ANY, fn_printf},
    {"println", ALL, 0, 1, 0, {P_ANY}, P_ANY, fn_println},
    {"html", ALL, 0, 1, 0, {P_ANY}, P_ANY, fn_html},
    {"js", ALL, 0, 1, 0, {P_ANY}, P_ANY, fn_js},
    {"urlquery", ALL, 0, 1, 0, {P_ANY}, P_ANY, fn_urlquery},

    {"query", PROM, 1, 0, 0, {P_STRING}, P_ANY, fn_query},
    {"first", PROM, 1, 0, 0, {P_LIST}, P_ANY, fn_first},
    {"label", PROM, 2, 0, 0, {P_STRING, P_SAMPLE}, P_ANY, fn_label},
    {"value", PROM, 1, 0, 0, {P_SAMPLE}, P_ANY, fn_value},
    {"strvalue", PROM, 1, 0, 0, {P_SAMPLE}, P_ANY, fn_strvalue},
    {"args", PROM, 0, 1, 0, {P_ANY}, P_ANY, fn_args},
    {"sortByLabel", PROM, 2, 0, 0, {P_STRING, P_LIST}, P_ANY, fn_sort_by_label},
    {"humanize", PROM, 1, 0, 0, {P_ANY}, P_ANY, fn_humanize},
    {"humanize1024", PROM, 1, 0, 0, {P_ANY}, P_ANY, fn_humanize1024},
    {"humanizeDuration", PROM, 1, 0, 0, {P_ANY}, P_ANY, fn_humanize_duration},
    {"humanizePercentage", PROM, 1, 0, 0, {P_ANY}, P_ANY, fn_humanize_percentage},
    {"humanizeTimestamp", PROM, 1, 0, 0, {P_ANY}, P_ANY, fn_humanize_timestamp},
    {"toTime", PROM, 1, 0, 0, {P_ANY}, P_ANY, fn_to_time},
    {"parseDuration", PROM, 1, 0, 0, {P_STRING}, P_ANY, fn_parse_duration},
    {"stripPort", PROM, 1, 0, 0, {P_STRING}, P_ANY, fn_strip_port},
    {"stripDomain", PROM, 1, 0, 0, {P_STRING}, P_ANY, fn_strip_domain},
    {"graphLink", PROM, 1, 0, 0, {P_STRING}, P_ANY, fn_graph_link},
    {"tableLink", PROM, 1, 0, 0, {P_STRING}, P_ANY, fn_table_link},
    {"pathPrefix", PROM, 0, 0, 0, {P_ANY}, P_ANY, fn_path_prefix},
    {"externalURL", PROM, 0, 0, 0, {P_ANY}, P_ANY, fn_external_url},

    {"toUpper", PROM | AM, 1, 0, 0, {P_STRING}, P_ANY, fn_to_upper},
    {"toLower", PROM | AM, 1, 0, 0, {P_STRING}, P_ANY, fn_to_lower},
    {"title", PROM | AM, 1, 0, 0, {P_STRING}, P_ANY, fn_title},
    {"match", PROM | AM, 2, 0, 0, {P_STRING, P_STRING}, P_ANY, fn_match},
    {"reReplaceAll", PROM | AM, 3, 0, 0, {P_STRING, P_STRING, P_STRING}, P_ANY, fn_re_replace_all},
    {"safeHtml", PROM | AM, 1, 0, 0, {P_STRING}, P_ANY, fn_safe_html},
    {"trimSpace", AM, 1, 0, 0, {P_STRING}, P_ANY, fn_trim_space},
    {"join", AM, 2, 0, 0, {P_STRING, P_STRINGS}, P_ANY, fn_join},
    {"stringSlice", AM, 0, 1, 0, {P_ANY}, P_STRING, fn_string_slice},
};

/* Methods: which values have them (kind, and flavour or -1 for any). */
static const struct {
    uint8_t kind;
    int sub;
    func_def fn;
} methods[] = {
    {K_MAP, TMPL_MAP_KV, {"SortedPairs", 0, 0, 0, 0, {P_ANY}, P_ANY, m_sorted_pairs}},
    {K_MAP, TMPL_MAP_KV, {"Names", 0, 0, 0, 0, {P_ANY}, P_ANY, m_kv_names}},
    {K_MAP, TMPL_MAP_KV, {"Values", 0, 0, 0, 0, {P_ANY}, P_ANY, m_kv_values}},
    {K_MAP, TMPL_MAP_KV, {"Remove", 0, 1, 0, 0, {P_STRINGS}, P_ANY, m_kv_remove}},
    {K_LIST, TMPL_LIST_PAIRS, {"Names", 0, 0, 0, 0, {P_ANY}, P_ANY, m_pairs_names}},
    {K_LIST, TMPL_LIST_PAIRS, {"Values", 0, 0, 0, 0, {P_ANY}, P_ANY, m_pairs_values}},
    {K_LIST, TMPL_LIST_ALERTS, {"Firing", 0, 0, 0, 0, {P_ANY}, P_ANY, m_firing}},
    {K_LIST, TMPL_LIST_ALERTS, {"Resolved", 0, 0, 0, 0, {P_ANY}, P_ANY, m_resolved}},
    {K_TIME, -1, {"Format", 0, 1, 0, 0, {P_STRING}, P_ANY, m_time_format}},
    {K_TIME, -1, {"Unix", 0, 0, 0, 0, {P_ANY}, P_ANY, m_time_unix}},
    {K_TIME, -1, {"UnixMilli", 0, 0, 0, 0, {P_ANY}, P_ANY, m_time_unix_milli}},
    {K_TIME, -1, {"UnixNano", 0, 0, 0, 0, {P_ANY}, P_ANY, m_time_unix_nano}},
    {K_TIME, -1, {"UTC", 0, 0, 0, 0, {P_ANY}, P_ANY, m_time_self}},
    {K_TIME, -1, {"Local", 0, 0, 0, 0, {P_ANY}, P_ANY, m_time_self}},
    {K_TIME, -1, {"IsZero", 0, 0, 0, 0, {P_ANY}, P_ANY, m_time_is_zero}},
    {K_TIME, -1, {"String", 0, 0, 0, 0, {P_ANY}, P_ANY, m_time_string}},
};

#undef ALL
#undef PROM
#undef AM

static const func_def *find_func(const char *name, size_t len, unsigned funcs) {
    for (size_t i = 0; i < sizeof functions / sizeof functions[0]; i++) {
        const func_def *f = &functions[i];
        if (strlen(f->name) == len && memcmp(f->name, name, len) == 0 &&
            ((f->families & FAM_GO) || (f->families & funcs)))
            return f;
    }
    return NULL;
}

static const func_def *find_method(const tmpl_value *recv, const char *name, size_t len) {
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
        if (methods[i].kind == recv->kind && (methods[i].sub < 0 || methods[i].sub == recv->sub) &&
            strlen(methods[i].fn.name) == len && memcmp(methods[i].fn.name, name, len) == 0)
            return &methods[i].fn;
    return NULL;
}

/* ------------------------------------------------------------ entry point */

int tmpl_execute(const tmpl *t, const tmpl_value *dot, const tmpl_exec_options *o, buf *out, errbuf *err) {
    static const tmpl_exec_options defaults = {0};
    if (!o) o = &defaults;
    if (!dot) dot = &nil_value;
    const tree *tr = t->main;
    if (o->entry) {
        tr = lookup_tree(t, o->entry, strlen(o->entry));
        if (!tr) {
            errf(err, "template: no template \"%s\" associated with template \"%s\"", o->entry, t->name);
            return -1;
        }
    }
    exec_state st = {
        .t = t,
        .tr = tr,
        .arena = tmpl_data_new(),
        .out = out,
        .out_start = out->len,
        .max_steps = o->max_steps ? o->max_steps : DEFAULT_MAX_STEPS,
        .max_depth = o->max_depth ? o->max_depth : DEFAULT_MAX_DEPTH,
        .max_output = o->max_output ? o->max_output : DEFAULT_MAX_OUTPUT,
        .max_memory = o->max_memory ? o->max_memory : DEFAULT_MAX_MEMORY,
        .o = o,
        .loc = t->loc,
        .err = err,
    };
    push_value(&st, (str_ref){"$", 1}, dot);
    int r = walk(&st, dot, tr->root);
    free(st.vars);
    tmpl_data_free(st.arena);
    if (r == W_ERR) {
        out->len = st.out_start;
        return -1;
    }
    return 0;
}
