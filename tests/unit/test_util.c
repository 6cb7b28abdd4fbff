/*
 * test_util.c - the small shared helpers whose output other programs read:
 * float formatting (Prometheus writes values with Go's shortest 'g' form,
 * and promlite's dump and API must match it), varints and zigzag.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/minheap.h"
#include "common/util.h"

/* The expected strings are what Go's strconv.FormatFloat(v, 'g', -1, 64)
 * prints, the form Prometheus's API and promtool use. */
static void test_format_float_matches_go(void **state) {
    (void)state;
    static const struct { double v; const char *go; } cases[] = {
        {0, "0"}, {1, "1"}, {-1, "-1"}, {0.1, "0.1"}, {1.5, "1.5"}, {100, "100"},
        {123456, "123456"}, {1e6, "1e+06"}, {1234567, "1.234567e+06"}, {1e21, "1e+21"},
        {0.0001, "0.0001"}, {0.00001, "1e-05"}, {0.000123, "0.000123"}, {1.0 / 3, "0.3333333333333333"},
        {5e-324, "5e-324"}, {1.7976931348623157e308, "1.7976931348623157e+308"},
        {2.5e-5, "2.5e-05"}, {1700000000, "1.7e+09"}, {-273.15, "-273.15"}, {0.1 + 0.2, "0.30000000000000004"},
    };
    char out[FLOAT_TEXT_MAX];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) assert_string_equal(format_float(cases[i].v, out), cases[i].go);
    assert_string_equal(format_float(-0.0, out), "-0");
    assert_string_equal(format_float(INFINITY, out), "+Inf");
    assert_string_equal(format_float(-INFINITY, out), "-Inf");
    assert_string_equal(format_float(NAN, out), "NaN");
}

/* Whatever the value, the text reads back to the same bits (sign of zero
 * included), over a spread of magnitudes from a fixed-seed generator. */
static void test_format_float_round_trips(void **state) {
    (void)state;
    char out[FLOAT_TEXT_MAX];
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (int i = 0; i < 200000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        double v;
        memcpy(&v, &x, 8);
        if (isnan(v) || isinf(v)) continue;
        format_float(v, out);
        double back = strtod(out, NULL);
        assert_memory_equal(&back, &v, 8);
    }
}

/* The reference: every precision from 1 up, the first that reads back,
 * laid out as Go does.  format_float must give the same text. */
static const char *format_float_slow(double v, char *out) {
    if (isnan(v)) return strcpy(out, "NaN");
    if (isinf(v)) return strcpy(out, v > 0 ? "+Inf" : "-Inf");
    int prec = 1;
    for (; prec < 17; prec++) {
        snprintf(out, FLOAT_TEXT_MAX, "%.*e", prec - 1, v);
        if (strtod(out, NULL) == v) break;
    }
    snprintf(out, FLOAT_TEXT_MAX, "%.*e", prec - 1, v);
    int exp10 = atoi(strchr(out, 'e') + 1);
    if (exp10 < -4 || exp10 >= 6) return out;
    int decimals = prec - 1 - exp10;
    snprintf(out, FLOAT_TEXT_MAX, "%.*f", decimals > 0 ? decimals : 0, v);
    return out;
}

/* The fast shortest-digits search agrees with the exhaustive one on random
 * bit patterns, on short decimals (m / 10^k, what exporters send), on
 * integers around the %e switch and on ratios that need 16 or 17 digits. */
static void test_format_float_fast_equals_slow(void **state) {
    (void)state;
    char a[FLOAT_TEXT_MAX], b[FLOAT_TEXT_MAX];
    uint64_t x = 0x243f6a8885a308d3ull;
    for (int i = 0; i < 300000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        double v;
        if (i % 4 == 0) memcpy(&v, &x, 8);
        else if (i % 4 == 1) v = (double)(int64_t)(x % 100000000000ull) / pow(10, (double)((x >> 60) % 12));
        else if (i % 4 == 2) v = (double)(x % 10000000) * (i % 2 ? 1 : -1);
        else v = 100 * (1 - (double)(x % 1000000007) / 1000000007.0); /* a ratio: 16 or 17 digits */
        if (isnan(v) || isinf(v) || v == 0) continue;
        if (strcmp(format_float(v, a), format_float_slow(v, b))) fail_msg("%.17g: fast %s, slow %s", v, a, b);
    }
}

/* Varints and zigzag at their edges, as the storage format depends on them. */
static void test_varint_zigzag(void **state) {
    (void)state;
    static const uint64_t vals[] = {0, 1, 127, 128, 16383, 16384, UINT32_MAX, UINT64_MAX / 2, UINT64_MAX};
    uint8_t b[10];
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        size_t n = varint_put(b, vals[i]);
        uint64_t back = 0;
        assert_int_equal(varint_get(b, b + n, &back), n);
        assert_true(back == vals[i]);
        assert_int_equal(varint_get(b, b + n - 1, &back), 0); /* truncated */
    }
    static const int64_t svals[] = {0, -1, 1, INT64_MIN, INT64_MAX, -64, 63};
    for (size_t i = 0; i < sizeof svals / sizeof svals[0]; i++) assert_true(unzigzag(zigzag(svals[i])) == svals[i]);
    assert_true(zigzag(-1) == 1 && zigzag(1) == 2);
}

/* Base64 of RFC 4648's test vectors, and the basic-auth text of a scrape. */
static void test_base64(void **state) {
    (void)state;
    static const char *const vec[][2] = {{"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},
                                         {"foo", "Zm9v"},  {"foob", "Zm9vYg=="},  {"fooba", "Zm9vYmE="},
                                         {"foobar", "Zm9vYmFy"}, {"scraper:s3cret", "c2NyYXBlcjpzM2NyZXQ="}};
    for (size_t i = 0; i < sizeof vec / sizeof vec[0]; i++) {
        char out[64];
        size_t n = strlen(vec[i][0]);
        assert_true(base64_encoded_size(n) <= sizeof out);
        base64_encode(vec[i][0], n, out);
        assert_string_equal(out, vec[i][1]);
        assert_int_equal(strlen(out) + 1, base64_encoded_size(n));
    }
    const unsigned char high[] = {0xff, 0xfe, 0x00};
    char out[8];
    base64_encode(high, 3, out);
    assert_string_equal(out, "//4A");
}

/* The heap against a plain array: random pushes and pops, duplicate keys
 * among them, always give the smallest key left. */
static void test_minheap(void **state) {
    (void)state;
    enum { N = 300 };
    int64_t keys[N];
    int in[N] = {0};
    minheap h = {0};
    uint64_t x = 12345;
    size_t count = 0;
    for (int round = 0; round < 20000; round++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        int i = (int)((x >> 33) % N);
        if ((x >> 20) % 2 && !in[i]) {
            keys[i] = (int64_t)((x >> 40) % 1000);
            minheap_push(&h, keys[i], &keys[i]);
            in[i] = 1;
            count++;
        } else if (h.n) {
            int64_t least = INT64_MAX;
            for (int k = 0; k < N; k++)
                if (in[k] && keys[k] < least) least = keys[k];
            assert_true(minheap_top(&h)->key == least);
            int64_t *item = minheap_pop(&h);
            assert_true(*item == least);
            in[item - keys] = 0;
            count--;
        }
        assert_int_equal(count, h.n);
    }
    while (h.n) {
        int64_t top = minheap_top(&h)->key;
        minheap_pop(&h);
        assert_true(!h.n || minheap_top(&h)->key >= top);
    }
    assert_null(minheap_pop(&h));
    minheap_free(&h);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_float_matches_go),
        cmocka_unit_test(test_format_float_fast_equals_slow),
        cmocka_unit_test(test_format_float_round_trips),
        cmocka_unit_test(test_varint_zigzag),
        cmocka_unit_test(test_base64),
        cmocka_unit_test(test_minheap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
