/*
 * test_openchunk.c - the open chunk's value modes (tsdb/chunkenc.c): decimal
 * values as integer differences, the move to a larger scale, exceptions
 * stored raw, the fall back to XOR, and the bucket edges of the decimal
 * differences.  Every case checks a bit-exact round trip through
 * open_chunk_decode(), on the chunk's own buffer and on an exact-size copy
 * (so ASan sees any read past the stream).  test_chunkenc.c covers the
 * timestamp side, damage and the sealed codecs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tsdb/chunkenc.h"

static double from_bits(uint64_t b) {
    double d;
    memcpy(&d, &b, 8);
    return d;
}

/* Appends vs[] at 15 s steps and checks the decoded samples bit for bit.
 * Returns the chunk (caller frees) for further checks. */
static open_chunk append_all_and_check(const double *vs, size_t n) {
    open_chunk c;
    open_chunk_init(&c);
    int64_t *ts = malloc(n * sizeof *ts), *got_t = malloc(n * sizeof *got_t);
    double *got_v = malloc(n * sizeof *got_v);
    for (size_t i = 0; i < n; i++) {
        ts[i] = 1700000000000LL + (int64_t)i * 15000 + (int64_t)(i % 3);
        assert_int_equal(open_chunk_append(&c, ts[i], vs[i]), 0);
        assert_int_equal(c.count, i + 1);
    }
    uint32_t bytes = open_chunk_bytes(&c);
    uint8_t *copy = malloc(bytes);
    memcpy(copy, c.buf, bytes);
    assert_int_equal(open_chunk_decode(copy, c.nbits, (uint16_t)n, got_t, got_v), (int)n);
    for (size_t i = 0; i < n; i++) {
        assert_true(got_t[i] == ts[i]);
        if (memcmp(&got_v[i], &vs[i], 8)) fail_msg("sample %zu: got %.17g, want %.17g", i, got_v[i], vs[i]);
    }
    free(copy);
    free(ts);
    free(got_t);
    free(got_v);
    return c;
}

/* Counters and gauges with a few decimals take the decimal mode and far
 * fewer bits than XOR would (XOR needs 40-50 bits a sample for them). */
static void test_decimal_values_are_small(void **state) {
    (void)state;
    enum { N = 240 };
    double vs[N];
    int64_t cents = 123456789;
    uint64_t x = 12345;
    for (int i = 0; i < N; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        cents += (int64_t)(x >> 54); /* 0..1023 cents per step */
        vs[i] = (double)cents / 100.0;
    }
    open_chunk c = append_all_and_check(vs, N);
    assert_int_equal(c.mode, 1 + 2); /* scale 2 */
    assert_int_equal(c.exceptions, 0);
    /* Per sample: a 13-bit bucket and its 3-bit prefix for the value, 9
     * bits for the jittered timestamp; XOR would need 50-60 for the value. */
    assert_true(open_chunk_bytes(&c) < N * 25 / 8 + 30);
    open_chunk_free(&c);

    /* Integer gauges (bytes, counts) are scale 0; an unchanged value costs
     * one bit (plus the jittered timestamp's 9). */
    for (int i = 0; i < N; i++) vs[i] = 4096.0 * (1000 + (i / 60));
    c = append_all_and_check(vs, N);
    assert_int_equal(c.mode, 1);
    assert_true(open_chunk_bytes(&c) < N * 10 / 8 + 40);
    open_chunk_free(&c);
}

/* A value with more decimals than the chunk's scale re-encodes the chunk at
 * the larger scale; earlier values keep their exact bits. */
static void test_scale_grows(void **state) {
    (void)state;
    double vs[] = {1, 2, 3, 2.5, 2.25, 7, 2.125, 1e-9, 42};
    open_chunk c = append_all_and_check(vs, sizeof vs / sizeof vs[0]);
    assert_int_equal(c.mode, 1 + 9);
    assert_int_equal(c.exceptions, 0);
    open_chunk_free(&c);

    /* 0.1 + 0.2 is not a short decimal: an exception, the scale stays. */
    double ws[] = {0.5, 0.75, 0.1 + 0.2, 1.25};
    c = append_all_and_check(ws, 4);
    assert_int_equal(c.mode, 1 + 2);
    assert_int_equal(c.exceptions, 1);
    open_chunk_free(&c);
}

/* Staleness markers, other NaNs, infinities and -0.0 inside a decimal
 * series are stored raw and do not disturb the differences around them. */
static void test_exceptions(void **state) {
    (void)state;
    double vs[] = {10.5, 11.5, from_bits(0x7ff0000000000002ull), 12.5, from_bits(0x7ff8000000000001ull), -0.0,
                   13.5, INFINITY, -INFINITY, 14.5, 14.5, from_bits(0xfff8000000000123ull)};
    size_t n = sizeof vs / sizeof vs[0];
    open_chunk c = append_all_and_check(vs, n);
    assert_int_equal(c.mode, 1 + 1);
    assert_int_equal(c.exceptions, 6);
    open_chunk_free(&c);
}

/* When values are mostly not decimal after a decimal start, the chunk
 * becomes XOR; and a chunk whose first value is not decimal is XOR. */
static void test_fall_back_to_xor(void **state) {
    (void)state;
    enum { N = 100 };
    double vs[N];
    vs[0] = 0;
    uint64_t x = 99;
    for (int i = 1; i < N; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        vs[i] = (double)(x >> 11) / 9007199254740992.0; /* full precision in [0,1) */
    }
    open_chunk c = append_all_and_check(vs, N);
    assert_int_equal(c.mode, 0);
    open_chunk_free(&c);

    vs[0] = 0.1 + 0.2;
    for (int i = 1; i < N; i++) vs[i] = i * 0.5;
    c = append_all_and_check(vs, N);
    assert_int_equal(c.mode, 0);
    open_chunk_free(&c);

    /* -0.0 first: the sign would be lost as m = 0, so XOR. */
    double z[] = {-0.0, 1, 2};
    c = append_all_and_check(z, 3);
    assert_int_equal(c.mode, 0);
    open_chunk_free(&c);
}

/* A larger scale that would push an earlier m past 2^53 cannot be used:
 * the chunk becomes XOR and everything still round-trips. */
static void test_scale_overflow(void **state) {
    (void)state;
    double vs[] = {9007199254740000.0, 9007199254740001.0, 0.5, 1e15, -9007199254740991.0};
    open_chunk c = append_all_and_check(vs, 5);
    assert_true(c.mode == 0 || c.exceptions > 0);
    open_chunk_free(&c);
}

/* Differences at every bucket edge, both signs, up to the full int64
 * range of m differences (|m| < 2^53). */
static void test_difference_buckets(void **state) {
    (void)state;
    static const int64_t edges[] = {0, 1, 31, 32, 4095, 4096, (1 << 19) - 1, 1 << 19, (1ll << 31) - 1, 1ll << 31,
                                    (1ll << 52), (1ll << 53) - 2};
    double vs[2 * 12 * 2 + 1];
    size_t n = 0;
    vs[n++] = 0;
    for (size_t i = 0; i < 12; i++) {
        for (int sign = -1; sign <= 1; sign += 2) {
            double base = 0, v = (double)(sign * edges[i]);
            if (fabs(v) >= 9007199254740992.0) v = sign * 9007199254740991.0;
            vs[n++] = v;
            vs[n++] = base; /* back to 0: the same difference the other way */
        }
    }
    open_chunk c = append_all_and_check(vs, n);
    assert_int_equal(c.mode, 1);
    assert_int_equal(c.exceptions, 0);
    open_chunk_free(&c);
}

/* Random mixtures of all the above, many seeds, each checked bit for bit. */
static void test_random_mixtures(void **state) {
    (void)state;
    enum { N = 300 };
    double vs[N];
    uint64_t x = 0x1234567;
    for (int round = 0; round < 2000; round++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        unsigned scale = (unsigned)(x % 7), kind = (unsigned)(x >> 8) % 5;
        double p = pow(10, scale);
        int64_t m = (int64_t)(x >> 40) - (1 << 23);
        size_t n = 1 + (size_t)(x >> 20) % N;
        for (size_t i = 0; i < n; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            m += (int64_t)(x % 2001) - 1000;
            double v = (double)m / p;
            if (kind == 1 && x % 17 == 0) v = from_bits(0x7ff0000000000002ull);
            if (kind == 2 && x % 5 == 0) v = (double)m / pow(10, (double)(x % 10));
            if (kind == 3 && x % 3 == 0) v = from_bits(x | 0x7ff0000000000001ull);
            if (kind == 4) v = from_bits(x); /* anything at all */
            vs[i] = v;
        }
        open_chunk c = append_all_and_check(vs, n);
        open_chunk_free(&c);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decimal_values_are_small),
        cmocka_unit_test(test_scale_grows),
        cmocka_unit_test(test_exceptions),
        cmocka_unit_test(test_fall_back_to_xor),
        cmocka_unit_test(test_scale_overflow),
        cmocka_unit_test(test_difference_buckets),
        cmocka_unit_test(test_random_mixtures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
