/*
 * json.c - JSON output in Prometheus's shapes (see json.h).
 *
 * Strings are escaped as Go's encoding/json does with HTML escaping on
 * (Prometheus's API encoder is configured like the standard library):
 * quote and backslash, \n \r \t, other control bytes as \u00XX, < > & as
 * \u003c \u003e \u0026, U+2028/U+2029 escaped, and every byte of invalid
 * UTF-8 replaced by \ufffd.  Matching this matters for clients that compare
 * answers byte for byte with Prometheus's.
 */
#include <stdio.h>
#include <string.h>

#include "web/json.h"

/* Length of the valid UTF-8 sequence at s (1-4), or 0 if invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    size_t len;
    unsigned min;
    if (c < 0x80) return 1;
    if ((c & 0xe0) == 0xc0) len = 2, min = 0x80;
    else if ((c & 0xf0) == 0xe0) len = 3, min = 0x800;
    else if ((c & 0xf8) == 0xf0) len = 4, min = 0x10000;
    else return 0;
    if (n < len) return 0;
    unsigned cp = c & (0x7f >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    return len;
}

void jw_string(buf *b, const char *str, size_t n) {
    const unsigned char *s = (const unsigned char *)str;
    buf_append(b, "\"", 1);
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&') {
            size_t j = i;
            while (j < n && s[j] >= 0x20 && s[j] < 0x80 && s[j] != '"' && s[j] != '\\' && s[j] != '<' &&
                   s[j] != '>' && s[j] != '&')
                j++;
            buf_append(b, s + i, j - i);
            i = j;
            continue;
        }
        switch (c) {
        case '"': buf_append(b, "\\\"", 2); i++; continue;
        case '\\': buf_append(b, "\\\\", 2); i++; continue;
        case '\n': buf_append(b, "\\n", 2); i++; continue;
        case '\r': buf_append(b, "\\r", 2); i++; continue;
        case '\t': buf_append(b, "\\t", 2); i++; continue;
        default: break;
        }
        if (c < 0x80) {
            buf_printf(b, "\\u%04x", c);
            i++;
            continue;
        }
        size_t len = utf8_seq(s + i, n - i);
        if (len == 0) {
            buf_append(b, "\\ufffd", 6);
            i++;
            continue;
        }
        if (len == 3 && s[i] == 0xe2 && s[i + 1] == 0x80 && (s[i + 2] == 0xa8 || s[i + 2] == 0xa9)) {
            buf_printf(b, "\\u202%c", s[i + 2] == 0xa8 ? '8' : '9');
        } else {
            buf_append(b, s + i, len);
        }
        i += len;
    }
    buf_append(b, "\"", 1);
}

/* Appends the decimal digits of u. */
static void append_u64(buf *b, uint64_t u) {
    char tmp[24];
    int n = 0;
    do {
        tmp[sizeof tmp - 1 - n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    buf_append(b, tmp + sizeof tmp - n, (size_t)n);
}

void jw_time(buf *b, int64_t ms) {
    /* Prometheus prints float64(t)/1000 with strconv's 'f', -1: whole
     * seconds without decimals, others with up to three. */
    uint64_t a = ms < 0 ? (uint64_t)0 - (uint64_t)ms : (uint64_t)ms;
    if (ms < 0) buf_append(b, "-", 1);
    append_u64(b, a / 1000);
    unsigned frac = (unsigned)(a % 1000);
    if (frac == 0) return;
    char f[4] = {(char)('0' + frac / 100), (char)('0' + frac / 10 % 10), (char)('0' + frac % 10), 0};
    size_t len = 3;
    while (f[len - 1] == '0') len--;
    buf_append(b, ".", 1);
    buf_append(b, f, len);
}

void jw_point(buf *b, int64_t ms, double v) {
    char f[FLOAT_TEXT_MAX];
    buf_append(b, "[", 1);
    jw_time(b, ms);
    buf_append(b, ",\"", 2);
    const char *t = format_float(v, f);
    buf_append(b, t, strlen(t));
    buf_append(b, "\"]", 2);
}

void jw_labels(buf *b, const label *l, size_t n) {
    buf_append(b, "{", 1);
    for (size_t i = 0; i < n; i++) {
        if (i) buf_append(b, ",", 1);
        jw_string(b, l[i].name, l[i].name_len);
        buf_append(b, ":", 1);
        jw_string(b, l[i].value, l[i].value_len);
    }
    buf_append(b, "}", 1);
}

void jw_query_result(buf *b, const pq_result *r) {
    static const char *names[] = {"scalar", "vector", "matrix", "string"};
    buf_printf(b, "{\"resultType\":\"%s\",\"result\":", names[r->type]);
    if (r->type == PQ_TYPE_SCALAR) {
        jw_point(b, r->t, r->scalar);
    } else if (r->type == PQ_TYPE_STRING) {
        buf_append(b, "[", 1);
        jw_time(b, r->t);
        buf_append(b, ",", 1);
        jw_string(b, r->str, strlen(r->str));
        buf_append(b, "]", 1);
    } else {
        buf_append(b, "[", 1);
        for (size_t k = 0; k < r->nseries; k++) {
            const pq_series *s = &r->series[k];
            if (k) buf_append(b, ",", 1);
            buf_append(b, "{\"metric\":", 10);
            jw_labels(b, s->labels, s->nlabels);
            if (r->type == PQ_TYPE_VECTOR) {
                buf_append(b, ",\"value\":", 9);
                jw_point(b, s->t[0], s->v[0]);
            } else {
                buf_append(b, ",\"values\":[", 11);
                for (size_t i = 0; i < s->n; i++) {
                    if (i) buf_append(b, ",", 1);
                    jw_point(b, s->t[i], s->v[i]);
                }
                buf_append(b, "]", 1);
            }
            buf_append(b, "}", 1);
        }
        buf_append(b, "]", 1);
    }
    buf_append(b, "}", 1);
}
