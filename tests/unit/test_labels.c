/*
 * test_labels.c - label sets (sorting, hashing, encoding, formatting, name
 * rules) and series selectors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "common/labels.h"
#include "common/selector.h"

#define L(n, v) ((label){n, (uint32_t)strlen(n), v, (uint32_t)strlen(v)})

static void test_sort_and_hash(void **state) {
    (void)state;
    label a[] = {L("job", "node"), L("__name__", "up"), L("instance", "h:1")};
    label b[] = {L("instance", "h:1"), L("job", "node"), L("__name__", "up")};
    labels_sort(a, 3);
    labels_sort(b, 3);
    assert_string_equal(a[0].name, "__name__");
    assert_string_equal(a[2].name, "job");
    assert_int_equal(labels_hash(a, 3), labels_hash(b, 3));
    /* The separator keeps ("ab","c") apart from ("a","bc"). */
    label x[] = {L("ab", "c")}, y[] = {L("a", "bc")};
    assert_int_not_equal(labels_hash(x, 1), labels_hash(y, 1));
    label d[] = {L("a", "1"), L("a", "2")};
    assert_int_equal(labels_find_duplicate(d, 2), 1);
    assert_int_equal(labels_find_duplicate(a, 3), -1);
}

static void test_encode_decode(void **state) {
    (void)state;
    char big[300];
    memset(big, 'v', sizeof big - 1);
    big[sizeof big - 1] = 0;
    label a[] = {L("__name__", "m"), L("empty_is_kept_by_codec", ""), L("long", big), L("u", "\xc3\xa9\n\"")};
    uint8_t enc[1024];
    size_t n = labels_encode(a, 4, enc);
    assert_int_equal(n, labels_encoded_len(a, 4));
    label out[8];
    assert_int_equal(labels_decode(enc, n, out, 8), 4);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(out[i].value_len, a[i].value_len);
        assert_memory_equal(out[i].value, a[i].value, a[i].value_len);
    }
    assert_int_equal(labels_count_encoded(enc, n), 4);
    /* Truncated or over-capacity input is refused, never overrun. */
    for (size_t cut = 1; cut < n; cut++) {
        long r = labels_decode(enc, cut, out, 8);
        assert_true(r < 4);
    }
    assert_int_equal(labels_decode(enc, n, out, 3), -1);
}

static void test_format(void **state) {
    (void)state;
    label a[] = {L("__name__", "up"), L("job", "a\"b\\c\nd")};
    buf b = {0};
    labels_format(&b, a, 2);
    buf_append(&b, "", 1);
    assert_string_equal((char *)b.data, "up{job=\"a\\\"b\\\\c\\nd\"}");
    buf_reset(&b);
    label c[] = {L("__name__", "0bad"), L("x", "1")};
    labels_format(&b, c, 2);
    buf_append(&b, "", 1);
    assert_string_equal((char *)b.data, "{__name__=\"0bad\",x=\"1\"}");
    buf_free(&b);
}

static void test_name_rules(void **state) {
    (void)state;
    assert_true(metric_name_valid("node_cpu:rate5m", 15));
    assert_false(metric_name_valid("1x", 2));
    assert_false(metric_name_valid("", 0));
    assert_true(label_name_valid("_a1", 3));
    assert_false(label_name_valid("a:b", 3));
    assert_true(utf8_valid("h\xc3\xa9llo", 6));
    assert_false(utf8_valid("\xc0\xaf", 2));          /* overlong */
    assert_false(utf8_valid("\xed\xa0\x80", 3));      /* surrogate */
    assert_false(utf8_valid("\xf4\x90\x80\x80", 4));  /* > U+10FFFF */
    assert_false(utf8_valid("\xe2\x82", 2));          /* truncated */
}

static void test_selector(void **state) {
    (void)state;
    matcher *m;
    size_t n;
    errbuf err;
    assert_int_equal(selector_parse("up{job=\"node\", instance=~'h.*', x!=`y`, z!~\"w\"}", &m, &n, &err), 0);
    assert_int_equal(n, 5);
    assert_int_equal(m[0].op, MATCH_EQ);
    assert_string_equal(m[0].name, "__name__");
    assert_int_equal(m[2].op, MATCH_RE);
    assert_true(matcher_matches(&m[2], "host", 4));
    assert_false(matcher_matches(&m[2], "xhost", 5)); /* anchored */
    assert_int_equal(m[3].op, MATCH_NEQ);
    assert_int_equal(m[4].op, MATCH_NRE);
    assert_true(matcher_matches(&m[4], "", 0));
    matchers_free(m, n);
    assert_int_equal(selector_parse("{a=\"\"}", &m, &n, &err), -1);
    assert_non_null(strstr(err.msg, "non-empty matcher"));
    assert_int_equal(selector_parse("up{a=~\"(\"}", &m, &n, &err), -1);
    assert_non_null(strstr(err.msg, "invalid regular expression"));
    assert_int_equal(selector_parse("up{a=\"x\"", &m, &n, &err), -1);
    assert_int_equal(selector_parse("up{a==\"x\"}", &m, &n, &err), -1);
    assert_non_null(strstr(err.msg, "col 6"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sort_and_hash), cmocka_unit_test(test_encode_decode),
        cmocka_unit_test(test_format),        cmocka_unit_test(test_name_rules),
        cmocka_unit_test(test_selector),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
