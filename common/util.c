/*
 * util.c - see util.h.  Nothing here keeps state between calls.
 */
#include "common/util.h"

#include <errno.h>
#include <float.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

int errf(errbuf *e, const char *fmt, ...) {
    if (e) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static void out_of_memory(size_t n) {
    fprintf(stderr, "promlite: out of memory allocating %zu bytes\n", n);
    abort();
}

void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) out_of_memory(n);
    return p;
}

void *xcalloc(size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) out_of_memory(n * size);
    return p;
}

void *xrealloc(void *p, size_t n) {
    void *q = realloc(p, n ? n : 1);
    if (!q) out_of_memory(n);
    return q;
}

char *xstrndup(const char *s, size_t n) {
    char *p = xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = 0;
    return p;
}

void buf_reserve(buf *b, size_t extra) {
    if (b->len + extra <= b->cap) return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra) cap *= 2;
    b->data = xrealloc(b->data, cap);
    b->cap = cap;
}

void buf_append(buf *b, const void *p, size_t n) {
    buf_reserve(b, n);
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
}

void buf_printf(buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    buf_reserve(b, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void buf_free(buf *b) {
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

size_t varint_put(uint8_t *out, uint64_t v) {
    size_t n = 0;
    while (v >= 0x80) {
        out[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    out[n++] = (uint8_t)v;
    return n;
}

size_t varint_get(const uint8_t *p, const uint8_t *end, uint64_t *v) {
    uint64_t r = 0;
    for (size_t i = 0; i < 10 && p + i < end; i++) {
        uint8_t b = p[i];
        if (i == 9 && b > 1) return 0; /* would overflow 64 bits */
        r |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            *v = r;
            return i + 1;
        }
    }
    return 0;
}

/* The decimal digits of u > 0 into digits, without trailing zeros, NUL
 * terminated; returns how many remain and sets *count to all of them. */
static int integer_digits(uint64_t u, char *digits, int *count) {
    char rev[24];
    int n = 0;
    for (; u; u /= 10) rev[n++] = (char)('0' + u % 10);
    *count = n;
    for (int i = 0; i < n; i++) digits[i] = rev[n - 1 - i];
    while (n > 1 && digits[n - 1] == '0') n--;
    digits[n] = 0;
    return n;
}

#if LDBL_MANT_DIG >= 64
/* Powers of ten that long double holds exactly (5^27 < 2^64). */
static const long double pow10_exact[28] = {
    1e0L,  1e1L,  1e2L,  1e3L,  1e4L,  1e5L,  1e6L,  1e7L,  1e8L,  1e9L,  1e10L, 1e11L, 1e12L, 1e13L,
    1e14L, 1e15L, 1e16L, 1e17L, 1e18L, 1e19L, 1e20L, 1e21L, 1e22L, 1e23L, 1e24L, 1e25L, 1e26L, 1e27L};

/* av scaled by 10^k (|k| <= 27): one rounding, relative error 2^-64. */
static long double scale10(long double av, int k) { return k >= 0 ? av * pow10_exact[k] : av / pow10_exact[-k]; }

/* The shortest digits of the normal double av > 0 by long double
 * arithmetic, with no printf or strtod: the common case of an API answer,
 * where three printf/strtod pairs per value made float text most of a
 * range query's time.
 *
 * The 17 digits are av * 10^k rounded to an integer, the 15 and 16 digits
 * that scaled down by 100 and 10; with 64 bits of mantissa the product is
 * within 0.006 of exact, so each rounding is certain unless the fraction is
 * near one half.  A 15- or 16-digit candidate reads back to av when it lies inside av's rounding interval (half an ulp each
 * side; a quarter below an exact power of two); its distance to av is
 * known to 2^-64 of av, against an interval of 2^-54 or more, so again only
 * a near-tie is uncertain.  Returns 0 for every uncertain case and for
 * magnitudes beyond the exact powers of ten: the caller then uses printf. */
static int shortest_digits_wide(double av, char *digits, int *exp10) {
    /* The bounds above need the 64-bit mantissa at run time as well: under
     * valgrind, for one, long double arithmetic is done in double. */
    volatile long double one = 1.0L, tiny = 0x1p-63L;
    if (one + tiny == one) return 0;
    if (!(av >= 1e-10 && av < 1e40)) return 0;
    int e10 = (int)floor(log10(av)), k = 16 - e10;
    long double x = av, s;
    for (int tries = 0;; tries++) {
        if (k > 27 || k < -27 || tries == 3) return 0;
        s = scale10(x, k);
        if (s < 1e16L) k++;
        else if (s >= 1e17L) k--;
        else break;
    }
    long double whole = floorl(s), frac = s - whole;
    if (fabsl(frac - 0.5L) < 0.01L) return 0;
    uint64_t d17 = (uint64_t)whole + (frac > 0.5L); /* may be 10^17: 99..9.6 rounded up */
    int be;
    double m = frexp(av, &be);
    long double above = ldexpl(1.0L, be - 54); /* half an ulp */
    long double below = m == 0.5 ? above / 2 : above;
    long double margin = ldexpl(x, -60);
    uint64_t result = d17;
    for (int p = 15; p <= 16; p++) {
        /* Rounded from s, not from the 17 digits: rounding twice is wrong
         * when those end in half a unit, a tenth of all values. */
        uint64_t div = p == 15 ? 100 : 10;
        long double t = s / div, tw = floorl(t), tf = t - tw;
        if (fabsl(tf - 0.5L) < 0.01L) return 0;
        uint64_t q = (uint64_t)tw + (tf > 0.5L);
        /* q * div < 2^57: exact; then one rounding in scale10. */
        long double diff = scale10((long double)(q * div), -k) - x;
        long double lim = diff >= 0 ? above : below;
        if (fabsl(diff) < lim - margin) {
            result = q * div;
            break;
        }
        if (fabsl(diff) <= lim + margin) return 0;
    }
    int lead = 16 - k; /* decimal exponent of the first digit */
    if (result >= 100000000000000000ull) { /* rounded up to a power of ten */
        result /= 10;
        lead++;
    }
    int all;
    *exp10 = lead;
    return integer_digits(result, digits, &all);
}
#else
static int shortest_digits_wide(double av, char *digits, int *exp10) {
    (void)av, (void)digits, (void)exp10;
    return 0; /* long double is no wider than double: printf does it */
}
#endif

/* The shortest significant digits that read back to v, correctly rounded
 * (what Go's strconv finds), as a digit string and a decimal exponent.
 * Integers and, by long double arithmetic, most other values are done
 * without printf.  The rest take snprintf's correctly rounded %.*e at 15,
 * 16 and 17 digits until strtod reads the same bits back: a double is
 * within 1.1e-16 (relative) of any decimal that rounds to it, below half a
 * unit of the 15th significant digit, so when the shortest form has at most
 * 15 digits the 15-digit rounding of v is that form padded with zeros. */
static int shortest_digits(double v, char *digits, int *exp10) {
    char tmp[40];
    double av = fabs(v);
    if (av < 1e15 && av >= 1 && av == (double)(int64_t)av) {
        /* An integer: its digits are exact and no search is needed. */
        int count, n = integer_digits((uint64_t)av, digits, &count);
        *exp10 = count - 1;
        return n;
    }
    int wide = shortest_digits_wide(av, digits, exp10);
    if (wide) return wide;
    /* Near-ties and far magnitudes: printf.  Subnormals have fewer bits
     * than the 15-digit argument needs: search them from one digit up. */
    int prec = av < 2.2250738585072014e-308 ? 1 : 15;
    for (; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*e", prec - 1, v);
        if (prec == 17 || strtod(tmp, NULL) == v) break;
    }
    /* tmp is [-]d.ddddde[+-]XX */
    const char *p = tmp;
    if (*p == '-') p++;
    int n = 0;
    for (; *p && *p != 'e'; p++)
        if (*p != '.') digits[n++] = *p;
    *exp10 = atoi(p + 1);
    while (n > 1 && digits[n - 1] == '0') n--;
    digits[n] = 0;
    return n;
}

const char *format_float(double v, char *out) {
    if (isnan(v)) return strcpy(out, "NaN");
    if (isinf(v)) return strcpy(out, v > 0 ? "+Inf" : "-Inf");
    if (v == 0) return strcpy(out, signbit(v) ? "-0" : "0");
    char d[24];
    int e, n = shortest_digits(v, d, &e);
    char *o = out;
    if (v < 0) *o++ = '-';
    if (e < -4 || e >= 6) {
        /* Go's %e form for shortest 'g': exponent below -4 or from 6 on. */
        *o++ = d[0];
        if (n > 1) {
            *o++ = '.';
            memcpy(o, d + 1, (size_t)(n - 1));
            o += n - 1;
        }
        snprintf(o, 8, "e%c%02d", e < 0 ? '-' : '+', (e < 0 ? -e : e) % 1000);
        return out;
    }
    if (e < 0) {
        *o++ = '0';
        *o++ = '.';
        for (int z = 0; z < -e - 1; z++) *o++ = '0';
        memcpy(o, d, (size_t)n);
        o += n;
    } else {
        for (int i = 0; i <= e; i++) *o++ = i < n ? d[i] : '0';
        if (n > e + 1) {
            *o++ = '.';
            memcpy(o, d + e + 1, (size_t)(n - e - 1));
            o += n - e - 1;
        }
    }
    *o = 0;
    return out;
}

char *read_small_file(const char *path, size_t max, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    buf b = {0};
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (b.len + n > max) {
            fclose(f);
            buf_free(&b);
            errno = EFBIG;
            return NULL;
        }
        buf_append(&b, chunk, n);
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        buf_free(&b);
        errno = EIO;
        return NULL;
    }
    if (len) *len = b.len;
    buf_append(&b, "", 1);
    return (char *)b.data;
}

const char *human_bytes(double bytes, char *out, size_t outlen) {
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    int u = 0;
    while (bytes >= 1024 && u < 5) {
        bytes /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(out, outlen, "%.0f B", bytes);
    else
        snprintf(out, outlen, "%.1f %s", bytes, units[u]);
    return out;
}

void deadline_after_ms(struct timespec *ts, int64_t ms) {
    clock_gettime(CLOCK_MONOTONIC, ts);
    if (ms < 0) ms = 0;
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000;
    if (ts->tv_nsec >= 1000000000) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000;
    }
}

double mono_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int64_t mono_micros(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

double cpu_seconds(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* Reads one "Key:   N kB" line of /proc/self/status. */
static uint64_t proc_status_kb(const char *key) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return 0;
    char line[256];
    uint64_t kb = 0;
    size_t klen = strlen(key);
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
            kb = strtoull(line + klen + 1, NULL, 10);
            break;
        }
    }
    fclose(f);
    return kb * 1024;
}

uint64_t peak_rss_bytes(void) { return proc_status_kb("VmHWM"); }
uint64_t current_rss_bytes(void) { return proc_status_kb("VmRSS"); }
uint64_t current_rss_anon_bytes(void) { return proc_status_kb("RssAnon"); }
uint64_t current_rss_file_bytes(void) { return proc_status_kb("RssFile") + proc_status_kb("RssShmem"); }

void base64_encode(const void *in, size_t n, char *out) {
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const uint8_t *p = in;
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        *out++ = alphabet[v >> 18];
        *out++ = alphabet[(v >> 12) & 63];
        *out++ = alphabet[(v >> 6) & 63];
        *out++ = alphabet[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)p[i] << 16;
        *out++ = alphabet[v >> 18];
        *out++ = alphabet[(v >> 12) & 63];
        *out++ = '=';
        *out++ = '=';
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
        *out++ = alphabet[v >> 18];
        *out++ = alphabet[(v >> 12) & 63];
        *out++ = alphabet[(v >> 6) & 63];
        *out++ = '=';
    }
    *out = 0;
}
