/*
 * test_chunkenc.c - sample chunk encodings (tsdb/chunkenc.h).
 *
 * What is covered:
 *  - the open chunk (Gorilla stream): append + open_chunk_decode round trips,
 *    prefixes, the 65535-sample limit, every delta-of-delta bucket boundary,
 *    every XOR window case, int64 extremes and gaps beyond 2^32 ms;
 *  - the sealed chunk: chunk_encode / chunk_encode_codec + chunk_decode +
 *    chunk_header round trips for every codec family (xor, const, dec, bits)
 *    and every time form, on 1, 2, 240 samples and a full (~1024 byte) chunk;
 *    families that cannot code a chunk must return 0;
 *  - values: negative, denormal, 5e-324, DBL_MAX, -0.0, +-Inf, NaN payloads
 *    (Prometheus's staleness marker, Go's NaN, negative NaNs), NaN inside
 *    decimal chunks (exceptions, up to and beyond DEC_MAX_EXCEPTIONS),
 *    constant series, counters, decimal gauges, page-sized (GCD) values and
 *    random full-precision doubles;
 *  - robustness: truncation at every length, every single-bit flip, cap
 *    smaller than the count, garbage headers.  Decoders must never crash or
 *    write outside the arrays they are given (guard regions checked after
 *    every call; run under ASan/UBSan to check reads too), and must reject
 *    damage except for the rare collision the 16-bit check allows;
 *  - a property test: thousands of random series from a seeded PRNG mixing
 *    all the shapes above, round-tripped through every codec family, with
 *    "best is never larger than any family" checked on each.
 *
 * Every round trip is compared bit for bit (memcmp of the double bits), so
 * NaN payloads and the sign of zero count.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tsdb/chunkenc.h"

/* ------------------------------------------------------------ helpers */

#define GUARD_BYTES 64               /* after encode output buffers        */
#define GUARD_ELEMS 16               /* after decode arrays                */
#define GUARD_BYTE 0xa5
#ifndef PROPERTY_SERIES
#define PROPERTY_SERIES 3000         /* -D a larger number for a long soak */
#endif
#ifndef PROPERTY_SEED
#define PROPERTY_SEED 20240601
#endif
#define VALUE_KINDS 13
#define DEC_MAX_EXCEPTIONS 8         /* as chunkenc.c                      */

static const uint64_t STALE_NAN = 0x7ff0000000000002ull; /* Prometheus staleness */
static const uint64_t GO_NAN = 0x7ff8000000000001ull;    /* Go's math.NaN()      */

/* splitmix64: small, seedable, good enough for test data. */
static uint64_t rng_state;
static void rng_seed(uint64_t s) { rng_state = s; }
static uint64_t rng(void) {
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static uint64_t rng_below(uint64_t n) { return n ? rng() % n : 0; }
static double rng_unit(void) { return (double)(rng() >> 11) / 9007199254740992.0; }

static double from_bits(uint64_t b) {
    double v;
    memcpy(&v, &b, sizeof v);
    return v;
}
static uint64_t to_bits(double v) {
    uint64_t b;
    memcpy(&b, &v, sizeof b);
    return b;
}

/* Arrays with a guard region after cap elements. */
typedef struct samples {
    int64_t *ts;
    double *vs;
    size_t cap;
} samples;

static samples samples_new(size_t cap) {
    samples s = {malloc((cap + GUARD_ELEMS) * sizeof(int64_t)),
                 malloc((cap + GUARD_ELEMS) * sizeof(double)), cap};
    assert_non_null(s.ts);
    assert_non_null(s.vs);
    memset(s.ts, GUARD_BYTE, (cap + GUARD_ELEMS) * sizeof(int64_t));
    memset(s.vs, GUARD_BYTE, (cap + GUARD_ELEMS) * sizeof(double));
    return s;
}

static void samples_check_guard(const samples *s) {
    const uint8_t *t = (const uint8_t *)(s->ts + s->cap), *v = (const uint8_t *)(s->vs + s->cap);
    for (size_t i = 0; i < GUARD_ELEMS * 8; i++) {
        if (t[i] != GUARD_BYTE || v[i] != GUARD_BYTE) fail_msg("decoder wrote past cap %zu", s->cap);
    }
}

static void samples_free(samples *s) {
    free(s->ts);
    free(s->vs);
}

/* Output buffer of CHUNK_ENCODE_BOUND(n) bytes plus a guard. */
static uint8_t *outbuf_new(size_t n) {
    size_t b = CHUNK_ENCODE_BOUND(n);
    uint8_t *o = malloc(b + GUARD_BYTES);
    assert_non_null(o);
    memset(o, GUARD_BYTE, b + GUARD_BYTES);
    return o;
}

static void outbuf_check_guard(const uint8_t *o, size_t n) {
    size_t b = CHUNK_ENCODE_BOUND(n);
    for (size_t i = 0; i < GUARD_BYTES; i++)
        if (o[b + i] != GUARD_BYTE) fail_msg("encoder wrote past CHUNK_ENCODE_BOUND(%zu)", n);
}

/* Bit-exact comparison with a useful message on mismatch. */
static void assert_same(const int64_t *ets, const double *evs, const int64_t *ts, const double *vs,
                        size_t n, const char *what) {
    for (size_t i = 0; i < n; i++) {
        if (ets[i] != ts[i])
            fail_msg("%s: ts[%zu] = %lld, want %lld", what, i, (long long)ts[i], (long long)ets[i]);
        if (memcmp(&evs[i], &vs[i], sizeof(double)))
            fail_msg("%s: vs[%zu] bits %016llx, want %016llx", what, i,
                     (unsigned long long)to_bits(vs[i]), (unsigned long long)to_bits(evs[i]));
    }
}

/* Seals ts/vs with the given codec.  If the family can code them, checks
 * the size bound, the guard, the header, the names and a bit-exact decode
 * (with cap exactly n), and returns the chunk (caller frees) and its length;
 * otherwise returns NULL with *len = 0. */
static uint8_t *seal(const int64_t *ts, const double *vs, size_t n, enum chunk_codec codec, size_t *len) {
    uint8_t *o = outbuf_new(n);
    size_t l = chunk_encode_codec(ts, vs, n, codec, o);
    outbuf_check_guard(o, n);
    *len = l;
    if (l == 0) {
        free(o);
        return NULL;
    }
    assert_true(l <= CHUNK_ENCODE_BOUND(n));

    int64_t mint = 0;
    uint32_t count = 0;
    assert_int_equal(chunk_header(o, l, &mint, &count), 0);
    assert_int_equal(mint, ts[0]);
    assert_int_equal(count, n);
    assert_string_not_equal(chunk_codec_name(o, l), "?");
    assert_string_not_equal(chunk_time_codec_name(o, l), "?");
    const char *name = chunk_codec_name(o, l);
    switch (codec) {
    case CHUNK_CODEC_XOR: assert_string_equal(name, "xor"); break;
    case CHUNK_CODEC_CONST: assert_string_equal(name, "const"); break;
    case CHUNK_CODEC_DEC: assert_memory_equal(name, "dec-", 4); break;
    case CHUNK_CODEC_BITS: assert_memory_equal(name, "bits-", 5); break;
    default: break;
    }

    samples s = samples_new(n);
    int got = chunk_decode(o, l, s.ts, s.vs, n);
    if (got != (int)n) fail_msg("chunk_decode(%s/%s, n=%zu) = %d", name, chunk_time_codec_name(o, l), n, got);
    samples_check_guard(&s);
    assert_same(ts, vs, s.ts, s.vs, n, name);
    samples_free(&s);
    return o;
}

/* seal() that must succeed; frees the chunk and returns its length. */
static size_t seal_ok(const int64_t *ts, const double *vs, size_t n, enum chunk_codec codec) {
    size_t l;
    uint8_t *o = seal(ts, vs, n, codec, &l);
    if (!o) fail_msg("chunk_encode_codec(codec %d, n=%zu) returned 0", (int)codec, n);
    free(o);
    return l;
}

/* Appends all samples to an open chunk and checks a bit-exact decode of
 * the whole chunk and of a prefix. */
static void open_roundtrip(const int64_t *ts, const double *vs, size_t n) {
    open_chunk c;
    open_chunk_init(&c);
    for (size_t i = 0; i < n; i++) assert_int_equal(open_chunk_append(&c, ts[i], vs[i]), 0);
    assert_int_equal(c.count, n);
    assert_true(open_chunk_bytes(&c) <= c.cap);
    /* Decode from an exact-size copy so that ASan sees any over-read. */
    uint32_t nb = open_chunk_bytes(&c);
    uint8_t *copy = malloc(nb ? nb : 1);
    assert_non_null(copy);
    if (nb) memcpy(copy, c.buf, nb);
    samples s = samples_new(n);
    assert_int_equal(open_chunk_decode(copy, c.nbits, (uint16_t)n, s.ts, s.vs), (int)n);
    samples_check_guard(&s);
    assert_same(ts, vs, s.ts, s.vs, n, "open");
    if (n > 1) {
        samples p = samples_new(n / 2);
        assert_int_equal(open_chunk_decode(copy, c.nbits, (uint16_t)(n / 2), p.ts, p.vs), (int)(n / 2));
        samples_check_guard(&p);
        assert_same(ts, vs, p.ts, p.vs, n / 2, "open prefix");
        samples_free(&p);
    }
    samples_free(&s);
    free(copy);
    open_chunk_free(&c);
    assert_null(c.buf);
    assert_int_equal(c.count, 0);
}

/* Round trip through the open chunk and every sealed codec family: BEST and
 * XOR and BITS must always work, CONST and DEC may decline.  BEST must not
 * be larger than any family that can code the chunk.  Returns BEST's size. */
static size_t all_roundtrips(const int64_t *ts, const double *vs, size_t n) {
    if (n <= UINT16_MAX) open_roundtrip(ts, vs, n);
    size_t best = seal_ok(ts, vs, n, CHUNK_CODEC_BEST);
    size_t x = seal_ok(ts, vs, n, CHUNK_CODEC_XOR);
    size_t b = seal_ok(ts, vs, n, CHUNK_CODEC_BITS);
    size_t c, d;
    free(seal(ts, vs, n, CHUNK_CODEC_CONST, &c));
    free(seal(ts, vs, n, CHUNK_CODEC_DEC, &d));
    assert_true(best <= x);
    assert_true(best <= b);
    if (c) assert_true(best <= c);
    if (d) assert_true(best <= d);
    return best;
}

/* Regular timestamps: n samples every step ms from t0. */
static void fill_regular(int64_t *ts, size_t n, int64_t t0, int64_t step) {
    for (size_t i = 0; i < n; i++) ts[i] = t0 + (int64_t)i * step;
}

/* ------------------------------------------------------ open chunk tests */

/* Plain append/decode round trip, and that decoding fewer samples than the
 * chunk holds returns exactly that prefix (the head reads partial copies). */
static void test_open_basic(void **state) {
    (void)state;
    int64_t ts[100];
    double vs[100];
    fill_regular(ts, 100, 1700000000000, 15000);
    for (int i = 0; i < 100; i++) vs[i] = 0.5 * i - 7;
    open_roundtrip(ts, vs, 1);
    open_roundtrip(ts, vs, 2);
    open_roundtrip(ts, vs, 100);

    /* Empty chunk: n == 0 decodes nothing; a too-short stream is corrupt. */
    assert_int_equal(open_chunk_decode(NULL, 0, 0, NULL, NULL), 0);
    uint8_t junk[16] = {0};
    int64_t t1;
    double v1;
    assert_int_equal(open_chunk_decode(NULL, 0, 1, &t1, &v1), -1);
    assert_int_equal(open_chunk_decode(junk, 127, 1, &t1, &v1), -1);
}

/* The open chunk holds at most 65535 samples (count is 16 bits): 65535
 * appends round-trip, the next one fails and leaves the chunk unchanged. */
static void test_open_max_samples(void **state) {
    (void)state;
    const size_t n = UINT16_MAX;
    int64_t *ts = malloc(n * sizeof *ts);
    double *vs = malloc(n * sizeof *vs);
    assert_non_null(ts);
    assert_non_null(vs);
    rng_seed(1);
    /* Mostly cheap samples (a large stream grows in small steps, slow under
     * ASan), with every kind of code now and then. */
    int64_t t = -1000000;
    for (size_t i = 0; i < n; i++) {
        t += i % 97 ? 15000 : 1 + (int64_t)rng_below(1u << 30);
        ts[i] = t;
        vs[i] = i % 89 ? (double)(i / 64) : rng_unit() * 1e6;
    }
    open_chunk c;
    open_chunk_init(&c);
    for (size_t i = 0; i < n; i++) assert_int_equal(open_chunk_append(&c, ts[i], vs[i]), 0);
    uint32_t nbits = c.nbits;
    assert_int_equal(open_chunk_append(&c, t + 1, 1.0), -1);
    assert_int_equal(c.count, n);
    assert_int_equal(c.nbits, nbits);
    samples s = samples_new(n);
    assert_int_equal(open_chunk_decode(c.buf, c.nbits, (uint16_t)n, s.ts, s.vs), (int)n);
    samples_check_guard(&s);
    assert_same(ts, vs, s.ts, s.vs, n, "open 65535");
    samples_free(&s);
    open_chunk_free(&c);
    free(ts);
    free(vs);
}

/* Every delta-of-delta bucket of the open chunk at both of its boundaries
 * (0, 7, 14, 24 and 64 bits), since off-by-one sign extension there
 * silently shifts every later timestamp. */
static void test_open_dod_buckets(void **state) {
    (void)state;
    static const int64_t dods[] = {0, 1, -1, 63, -64, 64, -65, 8191, -8192, 8192, -8193,
                                   (1 << 23) - 1, -(1 << 23), 1 << 23, -(1 << 23) - 1,
                                   (int64_t)1 << 40, -((int64_t)1 << 40) + 5, 0, 0};
    size_t nd = sizeof dods / sizeof dods[0];
    int64_t ts[32];
    double vs[32];
    int64_t delta = (int64_t)1 << 42, t = 0;
    ts[0] = t;
    vs[0] = 1;
    ts[1] = t += delta;
    vs[1] = 2;
    for (size_t i = 0; i < nd; i++) {
        delta += dods[i];
        ts[i + 2] = t += delta;
        vs[i + 2] = (double)i;
    }
    open_roundtrip(ts, vs, nd + 2);
    all_roundtrips(ts, vs, nd + 2);
}

/* Every XOR case: same value, reuse of the previous window, a new window,
 * more than 31 leading zeros (capped at 31), and a 64-bit window (whose
 * length field wraps to 0). */
static void test_xor_windows(void **state) {
    (void)state;
    uint64_t b = to_bits(1.5);
    uint64_t bits[] = {b,
                       b,                                   /* same           */
                       b ^ 0x00f0000000000000ull,           /* new window     */
                       b ^ 0x0030000000000000ull,           /* inside it      */
                       b ^ 1,                               /* lead > 31      */
                       b ^ 3,                               /* reuse          */
                       b ^ 0x8000000000000001ull,           /* 64-bit window  */
                       b ^ 0x8000000000000000ull,
                       b ^ 0x0000000100000000ull,           /* lead exactly 31 */
                       b ^ 0x0000000080000000ull,           /* lead 32 -> 31  */
                       0, ~0ull, 0, 0x8000000000000000ull, 1, STALE_NAN, GO_NAN};
    size_t n = sizeof bits / sizeof bits[0];
    int64_t ts[32];
    double vs[32];
    fill_regular(ts, n, 0, 1000);
    for (size_t i = 0; i < n; i++) vs[i] = from_bits(bits[i]);
    all_roundtrips(ts, vs, n);
}

/* Timestamps at the int64 extremes and with gaps wider than 2^32 ms: all
 * timestamp arithmetic is modulo 2^64, so any strictly increasing sequence
 * must come back (open chunk and every time form of the sealed chunk). */
static void test_extreme_timestamps(void **state) {
    (void)state;
    double vs[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    int64_t a[] = {INT64_MIN, INT64_MAX};
    all_roundtrips(a, vs, 2);
    int64_t b[] = {INT64_MIN, -1, 0, INT64_MAX};
    all_roundtrips(b, vs, 4);
    int64_t c[] = {INT64_MIN, INT64_MIN + 1, INT64_MAX - 1, INT64_MAX};
    all_roundtrips(c, vs, 4);
    int64_t d[] = {INT64_MIN, INT64_MIN + 1, INT64_MIN + 2, INT64_MIN + 3};
    all_roundtrips(d, vs, 4);
    int64_t e[] = {INT64_MAX - 3, INT64_MAX - 2, INT64_MAX - 1, INT64_MAX};
    all_roundtrips(e, vs, 4);
    int64_t f[] = {-5000000000000, -4000000000, 0, (int64_t)1 << 33, ((int64_t)1 << 33) + 1,
                   (int64_t)1 << 60, ((int64_t)1 << 62) + 15000, INT64_MAX};
    all_roundtrips(f, vs, 8);
    int64_t g[1] = {INT64_MIN};
    all_roundtrips(g, vs, 1);
    g[0] = INT64_MAX;
    all_roundtrips(g, vs, 1);

    /* Regular steps of 2^33 ms, and negative timestamps. */
    int64_t ts[240];
    double v2[240];
    for (int i = 0; i < 240; i++) v2[i] = i;
    fill_regular(ts, 240, -((int64_t)1 << 45), (int64_t)1 << 33);
    all_roundtrips(ts, v2, 240);
    fill_regular(ts, 240, -3600000, 15000);
    size_t l;
    uint8_t *o = seal(ts, v2, 240, CHUNK_CODEC_BEST, &l);
    assert_string_equal(chunk_time_codec_name(o, l), "regular");
    free(o);
    /* A step of INT64_MAX (only two samples fit). */
    int64_t h[] = {-1, INT64_MAX - 1};
    all_roundtrips(h, vs, 2);
}

/* Jittered scrapes (the usual case for real scrapers) need a non-regular
 * time form; the grid form is expected to win on +-jitter around a step. */
static void test_jittered_timestamps(void **state) {
    (void)state;
    int64_t ts[240];
    double vs[240];
    rng_seed(7);
    for (int i = 0; i < 240; i++) {
        ts[i] = 1700000000000 + (int64_t)i * 15000 + (int64_t)rng_below(101) - 50;
        vs[i] = 42;
    }
    all_roundtrips(ts, vs, 240);
    size_t l;
    uint8_t *o = seal(ts, vs, 240, CHUNK_CODEC_BEST, &l);
    assert_string_not_equal(chunk_time_codec_name(o, l), "regular");
    free(o);
    /* Missed scrapes: a regular series with a few gaps. */
    for (int i = 0; i < 240; i++) ts[i] = (int64_t)i * 15000 + (i > 100 ? 600000 : 0) + (i > 200 ? 45000 : 0);
    all_roundtrips(ts, vs, 240);
    /* One sample per millisecond, then one per year. */
    for (int i = 0; i < 240; i++) ts[i] = i < 120 ? i : 119 + (int64_t)(i - 119) * 31536000000;
    all_roundtrips(ts, vs, 240);
}

/* ------------------------------------------------------- sealed, values */

/* Special floats must come back bit for bit in every codec that takes
 * them: -0.0 keeps its sign, NaN payloads survive (staleness marker!). */
static void test_special_values(void **state) {
    (void)state;
    const double specials[] = {0.0, -0.0, INFINITY, -INFINITY, DBL_MAX, -DBL_MAX, DBL_MIN,
                               -DBL_MIN, 5e-324, -5e-324, 2.2250738585072009e-308 /* largest denormal */,
                               from_bits(STALE_NAN), from_bits(GO_NAN), from_bits(0x7ff8000000000000ull),
                               from_bits(0xfff8000000000000ull), from_bits(0x7fffffffffffffffull),
                               from_bits(0xffffffffffffffffull), from_bits(0x7ff0000000000001ull),
                               1.0, -1.0, 1e300, -1e-300, 0.1, 123456.789};
    size_t ns = sizeof specials / sizeof specials[0];
    int64_t ts[64];
    double vs[64];
    fill_regular(ts, 64, 0, 15000);

    /* Each special alone (n = 1, 2, 3 and 64): CONST must take it (and
     * BEST is no larger, checked by all_roundtrips). */
    for (size_t i = 0; i < ns; i++) {
        static const size_t sizes[] = {1, 2, 3, 64};
        for (size_t z = 0; z < 4; z++) {
            size_t n = sizes[z];
            for (size_t j = 0; j < n; j++) vs[j] = specials[i];
            all_roundtrips(ts, vs, n);
            seal_ok(ts, vs, n, CHUNK_CODEC_CONST);
        }
        samples s = samples_new(1);
        size_t l;
        uint8_t *o = seal(ts, &specials[i], 1, CHUNK_CODEC_CONST, &l);
        assert_int_equal(chunk_decode(o, l, s.ts, s.vs, 1), 1);
        if (i == 1) assert_true(signbit(s.vs[0]) && s.vs[0] == 0);
        free(o);
        samples_free(&s);
    }
    /* All of them in one chunk, in two orders. */
    memcpy(vs, specials, ns * sizeof *vs);
    all_roundtrips(ts, vs, ns);
    for (size_t i = 0; i < ns; i++) vs[i] = specials[ns - 1 - i];
    all_roundtrips(ts, vs, ns);
    /* -0.0 among decimals: it cannot be decimal, so it is an exception. */
    for (int i = 0; i < 64; i++) vs[i] = i % 10 == 3 ? -0.0 : (double)(i % 7) / 10;
    size_t l;
    uint8_t *o = seal(ts, vs, 64, CHUNK_CODEC_DEC, &l);
    assert_non_null(o);
    free(o);
}

/* CONST: a constant series (unchanged counter, "up" == 1) costs no more
 * than const's 8 value bytes (a dec or bits chunk with all-zero residuals
 * may be smaller still); a varying series cannot be const and the forced
 * family must return 0. */
static void test_const_codec(void **state) {
    (void)state;
    int64_t ts[240];
    double vs[240];
    fill_regular(ts, 240, 1700000000000, 15000);
    for (int i = 0; i < 240; i++) vs[i] = 1;
    size_t l;
    uint8_t *o = seal(ts, vs, 240, CHUNK_CODEC_BEST, &l);
    /* codec byte + n + mint + delta + 8 value bytes + 2 check bytes */
    assert_true(l <= 24);
    assert_true(l <= seal_ok(ts, vs, 240, CHUNK_CODEC_CONST));
    free(o);
    all_roundtrips(ts, vs, 240);
    vs[239] = 2;
    assert_null(seal(ts, vs, 240, CHUNK_CODEC_CONST, &l));
    assert_int_equal(l, 0);
    /* NaN with a different payload is a different value. */
    for (int i = 0; i < 240; i++) vs[i] = from_bits(STALE_NAN);
    free(seal(ts, vs, 240, CHUNK_CODEC_CONST, &l));
    assert_true(l > 0);
    vs[100] = from_bits(GO_NAN);
    assert_null(seal(ts, vs, 240, CHUNK_CODEC_CONST, &l));
    /* 0.0 and -0.0 are equal as floats but not the same value. */
    for (int i = 0; i < 240; i++) vs[i] = 0.0;
    vs[5] = -0.0;
    assert_null(seal(ts, vs, 240, CHUNK_CODEC_CONST, &l));
    all_roundtrips(ts, vs, 240);
}

/* DEC: gauges with a few decimals and counters must choose a dec-* codec
 * (that is where the space goes); full-precision values (0.1+0.2 style)
 * beyond the exception budget must make the forced family return 0. */
static void test_dec_codec(void **state) {
    (void)state;
    int64_t ts[240];
    double vs[240];
    fill_regular(ts, 240, 1700000000000, 15000);
    size_t l;
    uint8_t *o;
    rng_seed(3);

    /* Gauge with two decimals, as strtod gives them. */
    for (int i = 0; i < 240; i++) vs[i] = (double)(2000 + (int64_t)rng_below(500)) / 100;
    o = seal(ts, vs, 240, CHUNK_CODEC_BEST, &l);
    assert_memory_equal(chunk_codec_name(o, l), "dec-", 4);
    free(o);
    all_roundtrips(ts, vs, 240);

    /* Counter: increments of 0..20 (bytes sent, requests). */
    double c = 1e6;
    for (int i = 0; i < 240; i++) vs[i] = c += (double)rng_below(21);
    o = seal(ts, vs, 240, CHUNK_CODEC_BEST, &l);
    assert_memory_equal(chunk_codec_name(o, l), "dec-", 4);
    free(o);
    all_roundtrips(ts, vs, 240);

    /* Counter with a constant rate: the residuals are all equal, so the
     * values cost next to nothing. */
    for (int i = 0; i < 240; i++) vs[i] = 100 + 3.0 * i;
    o = seal(ts, vs, 240, CHUNK_CODEC_BEST, &l);
    assert_memory_equal(chunk_codec_name(o, l), "dec-", 4);
    assert_true(l < 40);
    free(o);

    /* Seconds counter with three decimals, negative gauges, tiny values. */
    for (int i = 0; i < 240; i++) vs[i] = (double)(123456789 + 15000 * i + (int64_t)rng_below(9)) / 1000;
    o = seal(ts, vs, 240, CHUNK_CODEC_BEST, &l);
    assert_memory_equal(chunk_codec_name(o, l), "dec-", 4);
    free(o);
    for (int i = 0; i < 240; i++) vs[i] = -(double)(int64_t)rng_below(100000) / 1000;
    assert_true(seal_ok(ts, vs, 240, CHUNK_CODEC_DEC) > 0);
    all_roundtrips(ts, vs, 240);
    for (int i = 0; i < 240; i++) vs[i] = (double)(int64_t)rng_below(1000) / 1e22;
    assert_true(seal_ok(ts, vs, 240, CHUNK_CODEC_DEC) > 0);
    all_roundtrips(ts, vs, 240);

    /* Full precision: 0.1 + 0.2 style accumulations are not decimal. */
    double acc = 0;
    for (int i = 0; i < 240; i++) vs[i] = acc += 0.1;
    assert_null(seal(ts, vs, 240, CHUNK_CODEC_DEC, &l));
    all_roundtrips(ts, vs, 240);
    for (int i = 0; i < 240; i++) vs[i] = rng_unit();
    assert_null(seal(ts, vs, 240, CHUNK_CODEC_DEC, &l));
    all_roundtrips(ts, vs, 240);
    /* Not decimal at any scale: too large or too small for m < 2^53. */
    for (int i = 0; i < 240; i++) vs[i] = i % 2 ? 1e300 : 5e-324;
    assert_null(seal(ts, vs, 240, CHUNK_CODEC_DEC, &l));
    /* 2^53 itself is the first integer dec cannot take; 2^53-1 is fine. */
    for (int i = 0; i < 240; i++) vs[i] = 9007199254740991.0 - i;
    assert_true(seal_ok(ts, vs, 240, CHUNK_CODEC_DEC) > 0);
    /* Twenty-two decimals is the largest scale. */
    for (int i = 0; i < 240; i++) vs[i] = (double)(i + 1) / 1e22;
    assert_true(seal_ok(ts, vs, 240, CHUNK_CODEC_DEC) > 0);
}

/* DEC exceptions: NaNs (staleness markers) and other non-decimal values
 * inside a decimal chunk are kept raw, up to DEC_MAX_EXCEPTIONS of them, at
 * any position including the first and last sample. */
static void test_dec_exceptions(void **state) {
    (void)state;
    int64_t ts[240];
    double vs[240];
    fill_regular(ts, 240, 1700000000000, 15000);
    size_t l;
    static const size_t positions[][DEC_MAX_EXCEPTIONS] = {
        {0, 1, 2, 3, 4, 5, 6, 7},
        {232, 233, 234, 235, 236, 237, 238, 239},
        {0, 30, 60, 90, 120, 150, 180, 239},
        {0, 239, 100, 101, 5, 6, 200, 77},
    };
    const uint64_t odd[] = {STALE_NAN, GO_NAN, 0x7ff8000000000000ull, 0xfff0000000000003ull,
                            0x8000000000000000ull /* -0.0 */, 0x7ff0000000000000ull /* +Inf */,
                            to_bits(0.1 + 0.2), to_bits(1e300)};
    for (size_t p = 0; p < sizeof positions / sizeof positions[0]; p++) {
        for (size_t ne = 1; ne <= DEC_MAX_EXCEPTIONS + 1; ne++) {
            for (int i = 0; i < 240; i++) vs[i] = (double)(i % 17) / 4;
            size_t k = ne <= DEC_MAX_EXCEPTIONS ? ne : DEC_MAX_EXCEPTIONS;
            for (size_t j = 0; j < k; j++) vs[positions[p][j]] = from_bits(odd[j]);
            if (ne > DEC_MAX_EXCEPTIONS) vs[50] = from_bits(STALE_NAN | 0x10);
            uint8_t *o = seal(ts, vs, 240, CHUNK_CODEC_DEC, &l);
            if (ne <= DEC_MAX_EXCEPTIONS) {
                assert_non_null(o);
                free(o);
            } else {
                assert_null(o);
            }
            all_roundtrips(ts, vs, 240);
        }
    }
    /* A chunk of nothing but exceptions is not decimal. */
    for (int i = 0; i < 5; i++) vs[i] = from_bits(STALE_NAN);
    assert_null(seal(ts, vs, 5, CHUNK_CODEC_DEC, &l));
    vs[4] = 1.25;
    free(seal(ts, vs, 5, CHUNK_CODEC_DEC, &l));
    assert_true(l > 0);

    /* Many staleness markers in a decimal series: the encoder falls back. */
    for (int i = 0; i < 240; i++) vs[i] = i % 20 == 0 ? from_bits(STALE_NAN) : (double)i;
    assert_null(seal(ts, vs, 240, CHUNK_CODEC_DEC, &l));
    all_roundtrips(ts, vs, 240);
}

/* BITS and the GCD mapping: memory gauges move in whole 4096-byte pages,
 * byte counters in whole blocks; random full-precision doubles are bits-*
 * territory.  Also values crossing zero, and NaNs of both signs whose
 * ordered bits span nearly the whole uint64 range (wrap-around). */
static void test_bits_and_gcd(void **state) {
    (void)state;
    int64_t ts[240];
    double vs[240];
    fill_regular(ts, 240, 0, 15000);
    rng_seed(11);
    size_t l;
    uint8_t *o;

    for (int i = 0; i < 240; i++) vs[i] = 4096.0 * (double)(1000000 + (int64_t)rng_below(5000));
    size_t best = all_roundtrips(ts, vs, 240);
    /* ~13 bits of noise per sample once the GCD is divided out. */
    assert_true(best < 240 * 2 + 40);
    for (int i = 0; i < 240; i++) vs[i] = 512.0 * (double)(int64_t)(rng_below(1u << 20)) - 512.0 * (1 << 19);
    all_roundtrips(ts, vs, 240);

    for (int i = 0; i < 240; i++) vs[i] = rng_unit() * 1000;
    o = seal(ts, vs, 240, CHUNK_CODEC_BEST, &l);
    assert_memory_equal(chunk_codec_name(o, l), "bits-", 5);
    free(o);
    all_roundtrips(ts, vs, 240);

    for (int i = 0; i < 240; i++) vs[i] = (rng_unit() - 0.5) * 1e-300;
    all_roundtrips(ts, vs, 240);
    for (int i = 0; i < 240; i++) vs[i] = from_bits(rng());
    all_roundtrips(ts, vs, 240);

    /* Ordered bits at the two ends of the int64 range. */
    const uint64_t ends[] = {0xffffffffffffffffull, 0xfffffffffffffffeull, 0xfffffffffffffffdull,
                             0x7fffffffffffffffull, 0x7ffffffffffffffeull, 0x8000000000000000ull,
                             0x0000000000000000ull, 0x8000000000000001ull};
    size_t ne = sizeof ends / sizeof ends[0];
    for (size_t a = 0; a < ne; a++)
        for (size_t b = 0; b < ne; b++)
            for (size_t pat = 0; pat < 4; pat++) {
                for (int i = 0; i < 64; i++) {
                    int pick = pat == 0 ? i % 2 : pat == 1 ? (i % 5 == 0) : pat == 2 ? (i >= 32) : (int)rng_below(2);
                    vs[i] = from_bits(pick ? ends[a] : ends[b]);
                }
                all_roundtrips(ts, vs, 64);
                all_roundtrips(ts, vs, 3);
            }
    /* Values whose ordered bits differ by 3 across the wrap: an odd GCD of
     * wrapped differences must not be taken for the GCD of the values. */
    for (int i = 0; i < 64; i++) vs[i] = from_bits(i % 3 ? 0xfffffffffffffffdull : 0x7fffffffffffffffull);
    all_roundtrips(ts, vs, 64);
    for (int i = 0; i < 64; i++)
        vs[i] = from_bits(rng_below(2) ? 0xfffffffffffffffdull - 3 * rng_below(4) : 0x7fffffffffffffffull - 3 * rng_below(4));
    all_roundtrips(ts, vs, 64);
}

/* Chunk sizes the storage produces: 1, 2, 240 samples, and a chunk cut at
 * 1024 open bytes (worst-case values); sealing must take no more than the
 * bound and, for real-shaped data, less than the open chunk. */
static void test_chunk_sizes(void **state) {
    (void)state;
    enum { N = 2000 };
    int64_t *ts = malloc(N * sizeof *ts);
    double *vs = malloc(N * sizeof *vs);
    assert_non_null(ts);
    assert_non_null(vs);
    rng_seed(5);
    fill_regular(ts, N, 1700000000000, 15000);
    for (int i = 0; i < N; i++) vs[i] = rng_unit() * 1e9;
    all_roundtrips(ts, vs, 1);
    all_roundtrips(ts, vs, 2);
    all_roundtrips(ts, vs, 240);

    /* Fill an open chunk until it reaches 1024 bytes, as the head cuts. */
    open_chunk c;
    open_chunk_init(&c);
    size_t n = 0;
    while (n < N && open_chunk_bytes(&c) < 1024) {
        assert_int_equal(open_chunk_append(&c, ts[n], vs[n]), 0);
        n++;
    }
    assert_true(open_chunk_bytes(&c) >= 1024);
    size_t sealed = all_roundtrips(ts, vs, n);
    assert_true(sealed <= open_chunk_bytes(&c) + 16);
    open_chunk_free(&c);

    /* Worst case for the bound: random bits and random timestamps. */
    int64_t t = INT64_MIN;
    for (int i = 0; i < N; i++) {
        t += 1 + (int64_t)(rng() >> 12);
        ts[i] = t;
        vs[i] = from_bits(rng());
    }
    for (size_t k = 1; k <= 12; k++) all_roundtrips(ts, vs, k);
    all_roundtrips(ts, vs, N);

    /* n == 0 is not a chunk. */
    uint8_t out[CHUNK_ENCODE_BOUND(0)];
    assert_int_equal(chunk_encode(ts, vs, 0, out), 0);
    assert_int_equal(chunk_encode_codec(ts, vs, 0, CHUNK_CODEC_XOR, out), 0);
    /* An unknown codec family codes nothing. */
    uint8_t *o = outbuf_new(10);
    assert_int_equal(chunk_encode_codec(ts, vs, 10, (enum chunk_codec)99, o), 0);
    outbuf_check_guard(o, 10);
    free(o);
    free(ts);
    free(vs);
}

/* chunk_codec_name / chunk_time_codec_name read the first byte only: low
 * nibble value codec, high nibble time form; "?" for anything unknown. */
static void test_codec_names(void **state) {
    (void)state;
    static const char *const vnames[] = {"xor", "const", "dec-raw", "dec-delta", "dec-dod",
                                         "bits-raw", "bits-delta", "bits-dod"};
    static const char *const tnames[] = {"regular", "delta", "dod", "grid"};
    for (unsigned t = 0; t < 16; t++)
        for (unsigned v = 0; v < 16; v++) {
            uint8_t b = (uint8_t)(t << 4 | v);
            assert_string_equal(chunk_codec_name(&b, 1), v < 8 ? vnames[v] : "?");
            assert_string_equal(chunk_time_codec_name(&b, 1), t < 4 ? tnames[t] : "?");
        }
    uint8_t b = 0;
    assert_string_equal(chunk_codec_name(&b, 0), "?");
    assert_string_equal(chunk_time_codec_name(&b, 0), "?");
    assert_string_equal(chunk_codec_name(NULL, 5), "?");
    assert_string_equal(chunk_time_codec_name(NULL, 5), "?");

    /* Names of real chunks. */
    int64_t ts[50];
    double vs[50];
    fill_regular(ts, 50, 0, 1000);
    for (int i = 0; i < 50; i++) vs[i] = i;
    size_t l;
    uint8_t *o = seal(ts, vs, 50, CHUNK_CODEC_XOR, &l);
    assert_string_equal(chunk_codec_name(o, l), "xor");
    assert_string_equal(chunk_time_codec_name(o, l), "regular");
    free(o);
    ts[10] += 7;
    for (int i = 30; i < 50; i++) ts[i] += 1234567;
    o = seal(ts, vs, 50, CHUNK_CODEC_BEST, &l);
    const char *tn = chunk_time_codec_name(o, l);
    assert_true(!strcmp(tn, "delta") || !strcmp(tn, "dod") || !strcmp(tn, "grid"));
    free(o);
}

/* ---------------------------------------------------------- corruption */

/* A set of valid chunks covering every codec and time form, for the
 * damage tests. */
typedef struct corpus {
    uint8_t *chunk[16];
    size_t len[16], n[16];
    int count;
} corpus;

static void corpus_add(corpus *c, const int64_t *ts, const double *vs, size_t n, enum chunk_codec codec) {
    size_t l;
    uint8_t *o = seal(ts, vs, n, codec, &l);
    assert_non_null(o);
    assert_true(c->count < 16);
    c->chunk[c->count] = o;
    c->len[c->count] = l;
    c->n[c->count++] = n;
}

static corpus make_corpus(void) {
    corpus c = {.count = 0};
    int64_t ts[120], jt[120];
    double vs[120];
    rng_seed(99);
    fill_regular(ts, 120, 1700000000000, 15000);
    for (int i = 0; i < 120; i++) jt[i] = ts[i] + (int64_t)rng_below(200);
    for (int i = 0; i < 120; i++) vs[i] = rng_unit() * 100;
    corpus_add(&c, ts, vs, 120, CHUNK_CODEC_XOR);
    corpus_add(&c, jt, vs, 120, CHUNK_CODEC_BITS);
    for (int i = 0; i < 120; i++) vs[i] = (double)(int64_t)rng_below(10000) / 100;
    vs[7] = from_bits(STALE_NAN);
    vs[90] = from_bits(GO_NAN);
    corpus_add(&c, jt, vs, 120, CHUNK_CODEC_DEC);
    corpus_add(&c, ts, vs, 120, CHUNK_CODEC_DEC);
    for (int i = 0; i < 120; i++) vs[i] = 7;
    corpus_add(&c, jt, vs, 120, CHUNK_CODEC_CONST);
    corpus_add(&c, ts, vs, 1, CHUNK_CODEC_CONST);
    int64_t et[] = {INT64_MIN, -1, 5, INT64_MAX};
    double ev[] = {-0.0, INFINITY, 5e-324, from_bits(STALE_NAN)};
    corpus_add(&c, et, ev, 4, CHUNK_CODEC_BEST);
    corpus_add(&c, et, ev, 4, CHUNK_CODEC_XOR);
    for (int i = 0; i < 120; i++) {
        ts[i] = (int64_t)i * i * 1000 + (int64_t)rng_below(3);
        vs[i] = 4096.0 * (double)(int64_t)rng_below(1000);
    }
    corpus_add(&c, ts, vs, 120, CHUNK_CODEC_BEST);
    return c;
}

static void corpus_free(corpus *c) {
    for (int i = 0; i < c->count; i++) free(c->chunk[i]);
}

/* Decodes buf[0..len) (an exact-size heap copy, so ASan sees over-reads)
 * into guarded arrays of cap samples.  Returns chunk_decode's result. */
static int decode_guarded(const uint8_t *buf, size_t len, size_t cap) {
    uint8_t *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    if (len) memcpy(copy, buf, len);
    samples s = samples_new(cap);
    int got = chunk_decode(copy, len, s.ts, s.vs, cap);
    samples_check_guard(&s);
    assert_true(got == -1 || (got >= 1 && (size_t)got <= cap));
    for (int i = 1; i < got; i++) assert_true(s.ts[i] > s.ts[i - 1]);
    int64_t mint;
    uint32_t count;
    int h = chunk_header(copy, len, &mint, &count);
    if (got > 0) {
        assert_int_equal(h, 0);
        assert_int_equal(count, got);
        assert_int_equal(mint, s.ts[0]);
    }
    samples_free(&s);
    free(copy);
    return got;
}

/* Every truncation of every corpus chunk must be rejected (the check bytes
 * then sit in the wrong place); a 1/65536 coincidence is tolerated. */
static void test_truncation(void **state) {
    (void)state;
    corpus c = make_corpus();
    size_t trials = 0, accepted = 0;
    for (int k = 0; k < c.count; k++) {
        assert_int_equal(decode_guarded(c.chunk[k], c.len[k], c.n[k]), (int)c.n[k]);
        for (size_t l = 0; l < c.len[k]; l++) {
            trials++;
            if (decode_guarded(c.chunk[k], l, c.n[k]) != -1) accepted++;
        }
    }
    assert_true(accepted <= 1 + trials / 4096);
    /* A longer buffer (trailing garbage) is damage too. */
    for (int k = 0; k < c.count; k++) {
        uint8_t *b = malloc(c.len[k] + 3);
        memcpy(b, c.chunk[k], c.len[k]);
        b[c.len[k]] = 0;
        b[c.len[k] + 1] = 0;
        b[c.len[k] + 2] = 0;
        assert_int_equal(decode_guarded(b, c.len[k] + 3, c.n[k]), -1);
        free(b);
    }
    corpus_free(&c);
}

/* Every single-bit flip of every corpus chunk: never a crash or a write
 * past cap; almost always rejected.  Caps of n and n + 50 (a flipped
 * count within cap must still be caught). */
static void test_bit_flips(void **state) {
    (void)state;
    corpus c = make_corpus();
    size_t trials = 0, accepted = 0;
    for (int k = 0; k < c.count; k++) {
        uint8_t *b = malloc(c.len[k]);
        assert_non_null(b);
        for (size_t bit = 0; bit < 8 * c.len[k]; bit++) {
            memcpy(b, c.chunk[k], c.len[k]);
            b[bit / 8] ^= (uint8_t)(0x80 >> (bit % 8));
            for (size_t extra = 0; extra <= 50; extra += 50) {
                trials++;
                if (decode_guarded(b, c.len[k], c.n[k] + extra) != -1) accepted++;
            }
        }
        free(b);
    }
    assert_true(accepted <= 1 + trials / 4096);
    corpus_free(&c);
}

/* Random multi-byte damage and pure garbage: no crash, no stray writes. */
static void test_garbage(void **state) {
    (void)state;
    corpus c = make_corpus();
    rng_seed(1234);
    uint8_t buf[2048];
    for (int round = 0; round < 3000; round++) {
        int k = (int)rng_below((uint64_t)c.count);
        size_t len = c.len[k];
        memcpy(buf, c.chunk[k], len);
        int hits = 1 + (int)rng_below(4);
        for (int h = 0; h < hits; h++) buf[rng_below(len)] = (uint8_t)rng();
        decode_guarded(buf, len, c.n[k]);
        size_t glen = rng_below(sizeof buf);
        for (size_t i = 0; i < glen; i++) buf[i] = (uint8_t)rng();
        buf[0] &= 0x37;               /* valid codec and time form */
        decode_guarded(buf, glen, 300);
    }
    corpus_free(&c);
}

/* cap below the chunk's count: -1 and nothing written, whatever the codec
 * (cap 0 included). */
static void test_cap_too_small(void **state) {
    (void)state;
    corpus c = make_corpus();
    for (int k = 0; k < c.count; k++) {
        for (size_t cap = 0; cap < c.n[k]; cap += (cap < 5 || cap + 2 >= c.n[k]) ? 1 : 17) {
            samples s = samples_new(cap);
            assert_int_equal(chunk_decode(c.chunk[k], c.len[k], s.ts, s.vs, cap), -1);
            samples_check_guard(&s);
            /* Nothing at all written, not even the first samples. */
            const uint8_t *p = (const uint8_t *)s.ts, *q = (const uint8_t *)s.vs;
            for (size_t i = 0; i < cap * 8; i++) assert_true(p[i] == GUARD_BYTE && q[i] == GUARD_BYTE);
            samples_free(&s);
        }
    }
    corpus_free(&c);
}

/* chunk_header on garbage: short buffers, bad nibbles, count 0, count above
 * INT32_MAX, over-long and truncated varints are all -1; valid headers give
 * the first timestamp (zigzag) and count. */
static void test_header(void **state) {
    (void)state;
    int64_t mint;
    uint32_t count;
    assert_int_equal(chunk_header(NULL, 10, &mint, &count), -1);
    uint8_t ok[] = {0x01, 0x05, 0x03, 0, 0};              /* n 5, mint -2 */
    assert_int_equal(chunk_header(ok, 5, &mint, &count), 0);
    assert_int_equal(mint, -2);
    assert_int_equal(count, 5);
    for (size_t l = 0; l < 5; l++) assert_int_equal(chunk_header(ok, l, &mint, &count), -1);
    uint8_t badv[] = {0x08, 0x05, 0x03, 0, 0};
    assert_int_equal(chunk_header(badv, 5, &mint, &count), -1);
    uint8_t badt[] = {0x41, 0x05, 0x03, 0, 0};
    assert_int_equal(chunk_header(badt, 5, &mint, &count), -1);
    uint8_t zero[] = {0x01, 0x00, 0x03, 0, 0};
    assert_int_equal(chunk_header(zero, 5, &mint, &count), -1);
    uint8_t big[] = {0x01, 0x80, 0x80, 0x80, 0x80, 0x08, 0x03, 0, 0};   /* 2^31 */
    assert_int_equal(chunk_header(big, sizeof big, &mint, &count), -1);
    uint8_t max[] = {0x01, 0xff, 0xff, 0xff, 0xff, 0x07, 0x03, 0, 0};   /* 2^31-1 */
    assert_int_equal(chunk_header(max, sizeof max, &mint, &count), 0);
    assert_int_equal(count, INT32_MAX);
    /* zigzag(INT64_MIN) = 2^64-1: ten bytes, the last one 1. */
    uint8_t tmin[] = {0x01, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0, 0};
    assert_int_equal(chunk_header(tmin, sizeof tmin, &mint, &count), 0);
    assert_int_equal(mint, INT64_MIN);
    tmin[11] = 0x02;                                        /* bit 64 set */
    assert_int_equal(chunk_header(tmin, sizeof tmin, &mint, &count), -1);
    uint8_t longv[] = {0x01, 0x01, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00, 0, 0};
    assert_int_equal(chunk_header(longv, sizeof longv, &mint, &count), -1);
    uint8_t trunc[] = {0x01, 0x01, 0x80, 0x80, 0x80};
    assert_int_equal(chunk_header(trunc, sizeof trunc, &mint, &count), -1);
    /* Random garbage: either -1 or a count in range. */
    rng_seed(77);
    uint8_t g[32];
    for (int r = 0; r < 20000; r++) {
        size_t l = rng_below(sizeof g + 1);
        for (size_t i = 0; i < l; i++) g[i] = (uint8_t)(rng() >> (rng_below(2) ? 0 : 8)) | (r % 2 ? 0x80 : 0);
        if (l) g[0] &= 0x37;
        int h = chunk_header(g, l, &mint, &count);
        assert_true(h == -1 || (h == 0 && count >= 1 && count <= INT32_MAX));
    }
}

/* Damage to an open chunk's stream (no check bytes there): decoding must
 * not crash or write past n; truncating below the full stream must fail. */
static void test_open_corrupt(void **state) {
    (void)state;
    enum { N = 120 };
    int64_t ts[N];
    double vs[N];
    rng_seed(31);
    for (int i = 0; i < N; i++) {
        ts[i] = 1700000000000 + (int64_t)i * 15000 + (int64_t)rng_below(40);
        vs[i] = i % 3 ? rng_unit() : (double)i;
    }
    open_chunk c;
    open_chunk_init(&c);
    for (int i = 0; i < N; i++) assert_int_equal(open_chunk_append(&c, ts[i], vs[i]), 0);
    uint32_t nbytes = open_chunk_bytes(&c);
    uint8_t *b = malloc(nbytes);
    assert_non_null(b);
    samples s = samples_new(N);
    for (uint32_t bit = 0; bit < c.nbits; bit++) {
        memcpy(b, c.buf, nbytes);
        b[bit / 8] ^= (uint8_t)(0x80 >> (bit % 8));
        int got = open_chunk_decode(b, c.nbits, N, s.ts, s.vs);
        assert_true(got == -1 || got == N);
        samples_check_guard(&s);
    }
    /* Shorter streams, in exact-size buffers. */
    for (uint32_t nb = 0; nb < c.nbits; nb++) {
        uint32_t bytes = (nb + 7) / 8;
        uint8_t *t = malloc(bytes ? bytes : 1);
        memcpy(t, c.buf, bytes);
        int got = open_chunk_decode(t, nb, N, s.ts, s.vs);
        samples_check_guard(&s);
        if (nb < 128 || nb + 8 <= c.nbits) assert_int_equal(got, -1);
        else assert_true(got == -1 || got == N);
        free(t);
    }
    samples_free(&s);
    free(b);
    open_chunk_free(&c);
}

/* ------------------------------------------------------- property test */

/* One random value series of one of many shapes. */
static void gen_values(double *vs, size_t n, unsigned kind) {
    static const uint64_t special[] = {0x7ff0000000000002ull, 0x7ff8000000000001ull, 0x7ff8000000000000ull,
                                       0xfff8000000000000ull, 0x8000000000000000ull, 0x7ff0000000000000ull,
                                       0xfff0000000000000ull, 0x7fefffffffffffffull, 0x0000000000000001ull,
                                       0x000fffffffffffffull, 0x8000000000000001ull, 0ull,
                                       0xffffffffffffffffull, 0x7fffffffffffffffull};
    size_t nspecial = sizeof special / sizeof special[0];
    double c, scale;
    switch (kind) {
    case 0: /* constant, possibly a special value */
        c = rng_below(3) ? (double)(int64_t)rng_below(100) : from_bits(special[rng_below(nspecial)]);
        for (size_t i = 0; i < n; i++) vs[i] = c;
        break;
    case 1: /* counter, small increments, sometimes unchanged for long */
        c = (double)rng_below(1u << 30);
        for (size_t i = 0; i < n; i++) vs[i] = c += rng_below(4) ? 0 : (double)rng_below(1000);
        break;
    case 2: /* gauge with 0..4 decimals, may be negative */
        scale = pow(10, (double)rng_below(5));
        c = (double)(int64_t)rng_below(1000000) - 500000;
        for (size_t i = 0; i < n; i++) vs[i] = (c + (double)(int64_t)rng_below(2000) - 1000) / scale;
        break;
    case 3: /* memory pages */
        c = (double)rng_below(1u << 20);
        for (size_t i = 0; i < n; i++) vs[i] = 4096.0 * (c + (double)rng_below(64));
        break;
    case 4: /* full-precision doubles in a random binade range */
        scale = ldexp(1, (int)rng_below(200) - 100);
        for (size_t i = 0; i < n; i++) vs[i] = (rng_unit() - (rng_below(4) ? 0 : 0.5)) * scale;
        break;
    case 5: /* arbitrary bits: NaN payloads, denormals, everything */
        for (size_t i = 0; i < n; i++) vs[i] = from_bits(rng());
        break;
    case 6: /* specials mixed with ordinary values */
        for (size_t i = 0; i < n; i++)
            vs[i] = rng_below(3) ? (double)(int64_t)rng_below(100) / 10 : from_bits(special[rng_below(nspecial)]);
        break;
    case 7: /* decimal series with a few staleness markers (exceptions) */
        c = (double)rng_below(100000);
        for (size_t i = 0; i < n; i++) vs[i] = (c += (double)rng_below(10)) / 100;
        for (size_t e = rng_below(DEC_MAX_EXCEPTIONS + 3); e > 0; e--) vs[rng_below(n)] = from_bits(STALE_NAN);
        break;
    case 8: /* float accumulation (0.1 + 0.2 style) */
        c = 0;
        scale = rng_unit();
        for (size_t i = 0; i < n; i++) vs[i] = c += scale * (double)rng_below(5);
        break;
    case 9: /* spiky: mostly small steps, a few huge jumps (Rice escapes) */
        c = 0;
        for (size_t i = 0; i < n; i++) vs[i] = c += rng_below(20) ? (double)rng_below(8) : ldexp(1, 40 + (int)rng_below(12));
        break;
    case 10: /* tiny values around the denormal range */
        for (size_t i = 0; i < n; i++) vs[i] = from_bits(rng_below(1u << 16)) * (rng_below(2) ? 1 : -1);
        break;
    case 11: /* huge values near DBL_MAX */
        for (size_t i = 0; i < n; i++) vs[i] = DBL_MAX * (rng_below(2) ? 1 : -1) * (1 - rng_unit() * 1e-10);
        break;
    default: { /* two clusters at both ends of the ordered-bits range, with
                * a common step: differences overflow int64 */
        uint64_t g = 1 + rng_below(12), lo = (1ull << 63) + rng_below(1000), hi = (1ull << 63) - 1 - rng_below(1000);
        for (size_t i = 0; i < n; i++) {
            uint64_t o = rng_below(2) ? lo + g * rng_below(50) : hi - g * rng_below(50);
            vs[i] = from_bits(o ^ ((0 - (o >> 63)) >> 1));   /* ordered -> float bits */
        }
        break;
    }
    }
}

/* One random strictly increasing timestamp series. */
static void gen_times(int64_t *ts, size_t n, unsigned kind) {
    int64_t t, step;
    switch (kind) {
    case 0: /* regular */
        step = 1 + (int64_t)rng_below(60000);
        t = (int64_t)rng_below(1ull << 42) - ((int64_t)1 << 41);
        for (size_t i = 0; i < n; i++) ts[i] = t + (int64_t)i * step;
        break;
    case 1: /* jittered scrapes */
        step = 15000;
        t = 1700000000000;
        for (size_t i = 0; i < n; i++) ts[i] = t + (int64_t)i * step + (int64_t)rng_below(200);
        break;
    case 2: /* gaps wider than 2^32 ms */
        t = -((int64_t)1 << 50);
        for (size_t i = 0; i < n; i++) ts[i] = t += ((int64_t)1 << 32) + (int64_t)rng_below(1ull << 40);
        break;
    case 3: { /* spread over the whole int64 range */
        uint64_t span = UINT64_MAX / (n + 1);
        uint64_t u = rng_below(span);
        for (size_t i = 0; i < n; i++) {
            ts[i] = (int64_t)(u - (1ull << 63));      /* u ^ sign: order kept */
            u += 1 + rng_below(span);
        }
        if (rng_below(2)) ts[0] = INT64_MIN;
        break;
    }
    case 4: /* regular with missed scrapes */
        t = 0;
        for (size_t i = 0; i < n; i++) ts[i] = t += 10000 * (rng_below(10) ? 1 : 1 + (int64_t)rng_below(20));
        break;
    default: /* dense, 1..3 ms apart */
        t = -(int64_t)rng_below(1000);
        for (size_t i = 0; i < n; i++) ts[i] = t += 1 + (int64_t)rng_below(3);
        break;
    }
}

/* Thousands of random series (fixed seed, reproducible): every one must
 * round-trip through the open chunk and every sealed codec family. */
static void test_property_random(void **state) {
    (void)state;
    enum { MAXN = 1200 };
    int64_t *ts = malloc(MAXN * sizeof *ts);
    double *vs = malloc(MAXN * sizeof *vs);
    assert_non_null(ts);
    assert_non_null(vs);
    rng_seed(PROPERTY_SEED);
    for (long s = 0; s < PROPERTY_SERIES; s++) {
        size_t n;
        switch (rng_below(6)) {
        case 0: n = 1 + rng_below(3); break;
        case 1: n = 240; break;
        case 2: n = 1 + rng_below(MAXN); break;
        default: n = 1 + rng_below(240); break;
        }
        unsigned vk = (unsigned)rng_below(VALUE_KINDS), tk = (unsigned)rng_below(6);
        gen_times(ts, n, tk);
        gen_values(vs, n, vk);
        /* Sometimes splice a second shape into the middle. */
        if (n > 10 && rng_below(4) == 0) gen_values(vs + n / 3, n / 3, (unsigned)rng_below(VALUE_KINDS));
        all_roundtrips(ts, vs, n);
    }
    free(ts);
    free(vs);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_basic),
        cmocka_unit_test(test_open_max_samples),
        cmocka_unit_test(test_open_dod_buckets),
        cmocka_unit_test(test_xor_windows),
        cmocka_unit_test(test_extreme_timestamps),
        cmocka_unit_test(test_jittered_timestamps),
        cmocka_unit_test(test_special_values),
        cmocka_unit_test(test_const_codec),
        cmocka_unit_test(test_dec_codec),
        cmocka_unit_test(test_dec_exceptions),
        cmocka_unit_test(test_bits_and_gcd),
        cmocka_unit_test(test_chunk_sizes),
        cmocka_unit_test(test_codec_names),
        cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_bit_flips),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_cap_too_small),
        cmocka_unit_test(test_header),
        cmocka_unit_test(test_open_corrupt),
        cmocka_unit_test(test_property_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
