/*
 * labels.c - see labels.h.
 *
 * Hashing uses xxHash's XXH3 (Debian libxxhash): fast on short keys and well
 * distributed, which matters because the head's series map is keyed by it.
 * Names and values are separated by 0xff, a byte that cannot occur in UTF-8,
 * so ("ab","c") and ("a","bc") hash differently.
 */
#include "common/labels.h"

#include <stdlib.h>
#include <string.h>
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

/* Compares two byte strings as memcmp would, shorter first on a tie. */
static int bytes_cmp(const char *a, size_t al, const char *b, size_t bl) {
    int c = memcmp(a, b, al < bl ? al : bl);
    if (c) return c;
    return al < bl ? -1 : al > bl ? 1 : 0;
}

static int label_cmp(const void *pa, const void *pb) {
    const label *a = pa, *b = pb;
    int c = bytes_cmp(a->name, a->name_len, b->name, b->name_len);
    if (c) return c;
    return bytes_cmp(a->value, a->value_len, b->value, b->value_len);
}

/* Insertion sort for the usual handful of labels (input is often already
 * sorted, making this linear); qsort beyond that. */
void labels_sort(label *v, size_t n) {
    if (n > 16) {
        qsort(v, n, sizeof *v, label_cmp);
        return;
    }
    for (size_t i = 1; i < n; i++) {
        label x = v[i];
        size_t j = i;
        while (j > 0 && label_cmp(&v[j - 1], &x) > 0) {
            v[j] = v[j - 1];
            j--;
        }
        v[j] = x;
    }
}

long labels_find_duplicate(const label *v, size_t n) {
    for (size_t i = 1; i < n; i++)
        if (v[i].name_len == v[i - 1].name_len && memcmp(v[i].name, v[i - 1].name, v[i].name_len) == 0)
            return (long)i;
    return -1;
}

uint64_t labels_hash(const label *v, size_t n) {
    XXH3_state_t st;
    static const char sep = (char)0xff;
    XXH3_64bits_reset(&st);
    for (size_t i = 0; i < n; i++) {
        XXH3_64bits_update(&st, v[i].name, v[i].name_len);
        XXH3_64bits_update(&st, &sep, 1);
        XXH3_64bits_update(&st, v[i].value, v[i].value_len);
        XXH3_64bits_update(&st, &sep, 1);
    }
    return XXH3_64bits_digest(&st);
}

static size_t varint_len(uint64_t v) {
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

size_t labels_encoded_len(const label *v, size_t n) {
    size_t len = 0;
    for (size_t i = 0; i < n; i++)
        len += varint_len(v[i].name_len) + v[i].name_len + varint_len(v[i].value_len) + v[i].value_len;
    return len;
}

size_t labels_encode(const label *v, size_t n, uint8_t *out) {
    uint8_t *p = out;
    for (size_t i = 0; i < n; i++) {
        p += varint_put(p, v[i].name_len);
        memcpy(p, v[i].name, v[i].name_len);
        p += v[i].name_len;
        p += varint_put(p, v[i].value_len);
        memcpy(p, v[i].value, v[i].value_len);
        p += v[i].value_len;
    }
    return (size_t)(p - out);
}

/* Reads one length-prefixed string; returns the position after it or NULL. */
static const uint8_t *get_string(const uint8_t *p, const uint8_t *end, const char **s, uint32_t *len) {
    uint64_t l;
    size_t k = varint_get(p, end, &l);
    if (!k || l > (uint64_t)(end - p - (long)k) || l > UINT32_MAX) return NULL;
    *s = (const char *)p + k;
    *len = (uint32_t)l;
    return p + k + l;
}

long labels_decode(const uint8_t *enc, size_t len, label *out, size_t cap) {
    const uint8_t *p = enc, *end = enc + len;
    size_t n = 0;
    while (p < end) {
        if (n == cap) return -1;
        label *l = &out[n++];
        if (!(p = get_string(p, end, &l->name, &l->name_len))) return -1;
        if (!(p = get_string(p, end, &l->value, &l->value_len))) return -1;
    }
    return (long)n;
}

long labels_count_encoded(const uint8_t *enc, size_t len) {
    const uint8_t *p = enc, *end = enc + len;
    long n = 0;
    const char *s;
    uint32_t l;
    while (p < end) {
        if (!(p = get_string(p, end, &s, &l))) return -1;
        if (!(p = get_string(p, end, &s, &l))) return -1;
        n++;
    }
    return n;
}

const label *labels_get(const label *v, size_t n, const char *name, size_t name_len) {
    for (size_t i = 0; i < n; i++)
        if (v[i].name_len == name_len && memcmp(v[i].name, name, name_len) == 0) return &v[i];
    return NULL;
}

/* Appends a label value in double quotes with the exposition escapes. */
static void append_quoted(buf *b, const char *s, size_t n) {
    buf_reserve(b, n + 2);
    b->data[b->len++] = '"';
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '\\' || c == '"') {
            buf_append(b, "\\", 1);
            buf_append(b, &c, 1);
        } else if (c == '\n') {
            buf_append(b, "\\n", 2);
        } else {
            buf_append(b, &c, 1);
        }
    }
    buf_append(b, "\"", 1);
}

void labels_format(buf *b, const label *v, size_t n) {
    const label *name = labels_get(v, n, METRIC_NAME_LABEL, sizeof METRIC_NAME_LABEL - 1);
    int name_ok = name && metric_name_valid(name->value, name->value_len);
    if (name_ok) buf_append(b, name->value, name->value_len);
    buf_append(b, "{", 1);
    int first = 1;
    for (size_t i = 0; i < n; i++) {
        if (name_ok && &v[i] == name) continue;
        if (!first) buf_append(b, ",", 1);
        first = 0;
        buf_append(b, v[i].name, v[i].name_len);
        buf_append(b, "=", 1);
        append_quoted(b, v[i].value, v[i].value_len);
    }
    buf_append(b, "}", 1);
}

label *labels_dup(const label *l, size_t n) {
    size_t bytes = (n ? n : 1) * sizeof(label);
    for (size_t i = 0; i < n; i++) bytes += (size_t)l[i].name_len + l[i].value_len + 2;
    label *v = xmalloc(bytes);
    char *p = (char *)(v + (n ? n : 1));
    for (size_t i = 0; i < n; i++) {
        memcpy(p, l[i].name, l[i].name_len);
        p[l[i].name_len] = 0;
        v[i].name = p;
        v[i].name_len = l[i].name_len;
        p += l[i].name_len + 1;
        memcpy(p, l[i].value, l[i].value_len);
        p[l[i].value_len] = 0;
        v[i].value = p;
        v[i].value_len = l[i].value_len;
        p += l[i].value_len + 1;
    }
    return v;
}

int metric_name_valid(const char *s, size_t n) {
    if (n == 0) return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
                 (i > 0 && c >= '0' && c <= '9');
        if (!ok) return 0;
    }
    return 1;
}

int label_name_valid(const char *s, size_t n) {
    if (n == 0) return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                 (i > 0 && c >= '0' && c <= '9');
        if (!ok) return 0;
    }
    return 1;
}

/* Strict UTF-8: no overlongs, no surrogates, nothing above U+10FFFF. */
int utf8_valid(const char *str, size_t n) {
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len;
        uint32_t cp;
        if (c >= 0xc2 && c <= 0xdf) { len = 2; cp = c & 0x1f; }
        else if (c >= 0xe0 && c <= 0xef) { len = 3; cp = c & 0x0f; }
        else if (c >= 0xf0 && c <= 0xf4) { len = 4; cp = c & 0x07; }
        else return 0;
        if (i + len > n) return 0;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80) return 0;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += len;
    }
    return 1;
}

int labels_compare(const label *a, size_t na, const label *b, size_t nb) {
    size_t n = na < nb ? na : nb;
    for (size_t i = 0; i < n; i++) {
        int r = label_cmp(&a[i], &b[i]);
        if (r) return r;
    }
    return (na > nb) - (na < nb);
}
