/*
 * test_timeutil.c - durations, times and sizes as Prometheus writes them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/timeutil.h"

static void test_durations(void **state) {
    (void)state;
    int64_t ms;
    assert_int_equal(parse_duration("1h30m", &ms), 0);
    assert_int_equal(ms, 5400000);
    assert_int_equal(parse_duration("15d", &ms), 0);
    assert_int_equal(ms, 15LL * 86400000);
    assert_int_equal(parse_duration("1y2w", &ms), 0);
    assert_int_equal(ms, 365LL * 86400000 + 14LL * 86400000);
    assert_int_equal(parse_duration("500ms", &ms), 0);
    assert_int_equal(ms, 500);
    assert_int_equal(parse_duration("1m500ms", &ms), 0);
    assert_int_equal(ms, 60500);
    assert_int_equal(parse_duration("0", &ms), 0);
    assert_int_equal(ms, 0);
    assert_int_equal(parse_duration("30m1h", &ms), -1); /* wrong order */
    assert_int_equal(parse_duration("1h1h", &ms), -1);
    assert_int_equal(parse_duration("5", &ms), -1);
    assert_int_equal(parse_duration("1.5h", &ms), -1);
    assert_int_equal(parse_duration("", &ms), -1);
    assert_int_equal(parse_duration("99999999999999999999d", &ms), -1);
    char out[32];
    format_duration(5400000, out, sizeof out);
    assert_string_equal(out, "1h30m");
    format_duration(0, out, sizeof out);
    assert_string_equal(out, "0s");
}

static void test_times(void **state) {
    (void)state;
    int64_t ms;
    assert_int_equal(parse_time("1700000000", &ms), 0);
    assert_int_equal(ms, 1700000000000LL);
    assert_int_equal(parse_time("1700000000.123", &ms), 0);
    assert_int_equal(ms, 1700000000123LL);
    assert_int_equal(parse_time("2023-11-14T22:13:20Z", &ms), 0);
    assert_int_equal(ms, 1700000000000LL);
    assert_int_equal(parse_time("2023-11-14T23:13:20.5+01:00", &ms), 0);
    assert_int_equal(ms, 1700000000500LL);
    assert_int_equal(parse_time("1969-12-31T23:59:59Z", &ms), 0);
    assert_int_equal(ms, -1000);
    assert_int_equal(parse_time("2023-13-01T00:00:00Z", &ms), -1);
    assert_int_equal(parse_time("yesterday", &ms), -1);
    char out[40];
    format_time(1700000000123LL, out, sizeof out);
    assert_string_equal(out, "2023-11-14T22:13:20.123Z");
    format_time(-1, out, sizeof out);
    assert_string_equal(out, "1969-12-31T23:59:59.999Z");
}

/* Go's RFC3339Nano as time.Time marshals: zeros of the fraction dropped. */
static void test_json_times(void **state) {
    (void)state;
    static const struct { int64_t ms; const char *want; } cases[] = {
        {0, "1970-01-01T00:00:00Z"},
        {1700000000000, "2023-11-14T22:13:20Z"},
        {1700000000100, "2023-11-14T22:13:20.1Z"},
        {1700000000120, "2023-11-14T22:13:20.12Z"},
        {1700000000123, "2023-11-14T22:13:20.123Z"},
        {1700000000003, "2023-11-14T22:13:20.003Z"},
        {-1, "1969-12-31T23:59:59.999Z"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[64];
        format_time_json(cases[i].ms, out, sizeof out);
        assert_string_equal(out, cases[i].want);
    }
}

static void test_sizes(void **state) {
    (void)state;
    uint64_t b;
    assert_int_equal(parse_bytes("512MB", &b), 0);
    assert_int_equal(b, 512ULL << 20);
    assert_int_equal(parse_bytes("1GiB", &b), 0);
    assert_int_equal(b, 1ULL << 30);
    assert_int_equal(parse_bytes("100", &b), 0);
    assert_int_equal(b, 100);
    assert_int_equal(parse_bytes("10XB", &b), -1);
    assert_int_equal(parse_bytes("-1GB", &b), -1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_durations),
        cmocka_unit_test(test_times),
        cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_json_times),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
