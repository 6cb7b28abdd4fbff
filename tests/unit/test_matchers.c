/*
 * test_matchers.c - Alertmanager's label matchers (alert/matchers.h).
 *
 * The parse table below was checked case by case against Alertmanager
 * 0.25 itself (amtool config routes over a configuration holding each
 * text), so its formatted forms and error messages are Alertmanager's
 * words: the cases of its own parse_test.go, list and quoting corner cases,
 * and Go's regular expression errors.  Then the semantics: empty values and
 * missing labels, anchoring, the places where Go's RE2 and PCRE2 read a
 * pattern differently (each expected result is what Alertmanager decides),
 * the single-matcher parser of the API's filters, the unanchored check of
 * silence validation, Go's %q, and two threads matching one regex at once.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert/matchers.h"

typedef struct {
    const char *input;
    const char *formatted; /* NULL: an error */
    const char *error;
} parse_case;

static const parse_case PARSE_CASES[] = {
    {"{foo=\"bar\"}", "{foo=\"bar\"}", NULL},
    {"{foo=~\"bar.*\"}", "{foo=~\"bar.*\"}", NULL},
    {"{foo!=\"bar\"}", "{foo!=\"bar\"}", NULL},
    {"{foo!~\"bar.*\"}", "{foo!~\"bar.*\"}", NULL},
    {"{foo=\"bar\", baz!=\"quux\"}", "{foo=\"bar\",baz!=\"quux\"}", NULL},
    {"{foo=\"bar\",baz!~\".*quux\", derp=\"wat\"}", "{foo=\"bar\",baz!~\".*quux\",derp=\"wat\"}", NULL},
    {"{foo=\"bar\", instance=~\"some-api.*\"}", "{foo=\"bar\",instance=~\"some-api.*\"}", NULL},
    {"{foo=\"\"}", "{foo=\"\"}", NULL},
    {"{foo=\"bar,quux\", job=\"job1\"}", "{foo=\"bar,quux\",job=\"job1\"}", NULL},
    {"{foo = \"bar\", dings != \"bums\", }", "{foo=\"bar\",dings!=\"bums\"}", NULL},
    {"foo=bar,dings!=bums", "{foo=\"bar\",dings!=\"bums\"}", NULL},
    {"foo=bar, dings!=bums", "{foo=\"bar\",dings!=\"bums\"}", NULL},
    {"{quote=\"She said: \\\"Hi, ladies! That's gender-neutral\xe2""\x80""\xa6""\\\"\"}", "{quote=\"She said: \\\"Hi, ladies! That's gender-neutral\xe2""\x80""\xa6""\\\"\"}", NULL},
    {"statuscode=~\"5..\"", "{statuscode=~\"5..\"}", NULL},
    {"tricky=~~~", "{tricky=~\"~~\"}", NULL},
    {"trickier==\\\\=\\=\\\"", "{trickier=\"=\\\\=\\\\=\\\"\"}", NULL},
    {"contains_quote != \"\\\"\" , contains_comma !~ \"foo,bar\" , ", "{contains_quote!=\"\\\"\",contains_comma!~\"foo,bar\"}", NULL},
    {"job=", "{job=\"\"}", NULL},
    {"job=\"value", NULL, "matcher value contains unescaped double quote: \"value"},
    {"job=value\"", NULL, "matcher value contains unescaped double quote: value\""},
    {"trickier==\\\\=\\=\\\"\"", NULL, "matcher value contains unescaped double quote: =\\\\=\\=\\\"\""},
    {"contains_unescaped_quote = foo\"bar", NULL, "matcher value contains unescaped double quote: foo\"bar"},
    {"{invalid-name = \"valid label\"}", NULL, "bad matcher format: invalid-name = \"valid label\""},
    {"{foo=~\"invalid[regexp\"}", NULL, "error parsing regexp: missing closing ]: `[regexp)$`"},
    {"\"{foo=\\\"bar\"}", NULL, "bad matcher format: \"{foo=\\\"bar\""},
    {"\"foo=\\\"bar\"", NULL, "bad matcher format: \"foo=\\\"bar\""},
    {"\"foo=\\\"bar\\\"\"", NULL, "bad matcher format: \"foo=\\\"bar\\\"\""},
    {"\"foo=\\\"bar\\\"", NULL, "bad matcher format: \"foo=\\\"bar\\\""},
    {"\"{foo=\\\"bar\\\"}\"", NULL, "bad matcher format: \"{foo=\\\"bar\\\"}\""},
    {"\"foo=\"bar\"\"", NULL, "bad matcher format: \"foo=\"bar\"\""},
    {"a:b=c", "{a:b=\"c\"}", NULL},
    {"_a=b", "{_a=\"b\"}", NULL},
    {":x=y", "{:x=\"y\"}", NULL},
    {"1a=b", NULL, "bad matcher format: 1a=b"},
    {"a=b,,c=d", NULL, "bad matcher format: "},
    {",", NULL, "bad matcher format: "},
    {"{}", "{}", NULL},
    {"", "{}", NULL},
    {"{", "{}", NULL},
    {"}", "{}", NULL},
    {"{a=b", "{a=\"b\"}", NULL},
    {"a=b}", "{a=\"b\"}", NULL},
    {" {a=b}", NULL, "bad matcher format: {a=b"},
    {"{a=b} ", "{a=\"b}\"}", NULL},
    {"a=\"b\\nc\"", "{a=\"b\\nc\"}", NULL},
    {"a=\"b\\tc\"", "{a=\"b\\\\tc\"}", NULL},
    {"a=b\\", "{a=\"b\\\\\"}", NULL},
    {"a=\"b\\\\\"", "{a=\"b\\\\\"}", NULL},
    {"a=\"b\\\"", NULL, "matcher value contains unescaped double quote: \"b\\\""},
    {"a=\\\"b\\\"", "{a=\"\\\"b\\\"\"}", NULL},
    {"a=\"x\" , b=\"y\"", "{a=\"x\",b=\"y\"}", NULL},
    {"a=\"\"\"", NULL, "matcher value contains unescaped double quote: \"\"\""},
    {"a=\"\"", "{a=\"\"}", NULL},
    {"a=\"", NULL, "matcher value contains unescaped double quote: \""},
    {"a=~\"\"", "{a=~\"\"}", NULL},
    {"a=~\"(a\"", NULL, "error parsing regexp: missing closing ): `^(?:(a)$`"},
    {"a=~\"a)\"", NULL, "error parsing regexp: unexpected ): `^(?:a))$`"},
    {"a=~\"a)(b\"", "{a=~\"a)(b\"}", NULL},
    {"a=~\"*\"", NULL, "error parsing regexp: missing argument to repetition operator: `*`"},
    {"a=~\"a**\"", NULL, "error parsing regexp: invalid nested repetition operator: `**`"},
    {"a=~\"a{2}*\"", NULL, "error parsing regexp: invalid nested repetition operator: `{2}*`"},
    {"a=~\"\\q\"", NULL, "error parsing regexp: invalid escape sequence: `\\q`"},
    {"a=~\"[z-a]\"", NULL, "error parsing regexp: invalid character class range: `z-a`"},
    {"a=~\"(?=a)\"", NULL, "error parsing regexp: invalid or unsupported Perl syntax: `(?=`"},
    {"a=~\"a{1001}\"", NULL, "error parsing regexp: invalid repeat count: `{1001}`"},
    {"a=~\"(a{500}){3}\"", NULL, "error parsing regexp: invalid repeat count: `{3}`"},
    {"a=~\"(a{500}|b){2}\"", "{a=~\"(a{500}|b){2}\"}", NULL},
    {"a=~\"[[:foo:]]\"", NULL, "error parsing regexp: invalid character class range: `[:foo:]`"},
    {"a=~\"[[:alpha:]]\"", "{a=~\"[[:alpha:]]\"}", NULL},
    {"a=~\"\\pX\"", NULL, "error parsing regexp: invalid character class range: `\\pX`"},
    {"a=~\"\\p{Foo}\"", NULL, "error parsing regexp: invalid character class range: `\\p{Foo}`"},
    {"a=~\"\\p{Greek}\"", "{a=~\"\\\\p{Greek}\"}", NULL},
    {"a=~\"\\p{greek}\"", NULL, "error parsing regexp: invalid character class range: `\\p{greek}`"},
    {"a=~\"\\pL+\"", "{a=~\"\\\\pL+\"}", NULL},
    {"a=~\"(?P<n>a\"", NULL, "error parsing regexp: missing closing ): `^(?:(?P<n>a)$`"},
    {"a=~\"(?P<n!>a)\"", NULL, "error parsing regexp: invalid named capture: `(?P<n!>`"},
    {"a=~\"(?<n>a)\"", NULL, "error parsing regexp: invalid or unsupported Perl syntax: `(?<`"},
    {"a=~\"\\1\"", NULL, "error parsing regexp: invalid escape sequence: `\\1`"},
    {"a=~\"\\8\"", NULL, "error parsing regexp: invalid escape sequence: `\\8`"},
    {"a=~\"x|*\"", NULL, "error parsing regexp: missing argument to repetition operator: `*`"},
    {"a=~\"(*)\"", NULL, "error parsing regexp: missing argument to repetition operator: `*`"},
    {"a=~\"\\x{zz}\"", NULL, "error parsing regexp: invalid escape sequence: `\\x{z`"},
    {"a=~\"\\x4\"", NULL, "error parsing regexp: invalid escape sequence: `\\x4)`"},
    {"a=~\"\\x41\"", "{a=~\"\\\\x41\"}", NULL},
    {"a=~\"\\C\"", NULL, "error parsing regexp: invalid escape sequence: `\\C`"},
    {"a=~\"(?i)*\"", NULL, "error parsing regexp: missing argument to repetition operator: `*`"},
    {"a=~\"a*?\"", "{a=~\"a*?\"}", NULL},
    {"a=~\"a*??\"", NULL, "error parsing regexp: invalid nested repetition operator: `*??`"},
    {"a=~\"(?i-)\"", NULL, "error parsing regexp: invalid or unsupported Perl syntax: `(?i-)`"},
    {"a=~\"(?\"", NULL, "error parsing regexp: missing closing ): `^(?:(?)$`"},
    {"a=~\"[a\"", NULL, "error parsing regexp: missing closing ]: `[a)$`"},
    {"a=~\"[]\"", NULL, "error parsing regexp: missing closing ]: `[])$`"},
    {"a=~\"[]a]\"", "{a=~\"[]a]\"}", NULL},
    {"a=~\"\\Z\"", NULL, "error parsing regexp: invalid escape sequence: `\\Z`"},
    {"a=~\"a{,5}\"", "{a=~\"a{,5}\"}", NULL},
    {"a=~\"a{01}\"", "{a=~\"a{01}\"}", NULL},
    {"a=~\"(?P=n)\"", NULL, "error parsing regexp: invalid or unsupported Perl syntax: `(?P`"},
    {"a=~\"[\\d-z]\"", "{a=~\"[\\\\d-z]\"}", NULL},
    {"a=~\"^*\"", "{a=~\"^*\"}", NULL},
    {"a=~\"\\Qa.b\\E+\"", "{a=~\"\\\\Qa.b\\\\E+\"}", NULL},
    {"a=~\"a{2,1}\"", NULL, "error parsing regexp: invalid repeat count: `{2,1}`"},
    {"a=~\"a{2,}\"", "{a=~\"a{2,}\"}", NULL},
    {"a=~\"a{1000}\"", "{a=~\"a{1000}\"}", NULL},
    {"a=~\"[^\\n]\"", "{a=~\"[^\\n]\"}", NULL},
    {"a=~\"(?i)abc\"", "{a=~\"(?i)abc\"}", NULL},
    {"a=~\"(?U)a+\"", "{a=~\"(?U)a+\"}", NULL},
    {"a=~\"(?s).*\"", "{a=~\"(?s).*\"}", NULL},
    {"a=~\"a++\"", NULL, "error parsing regexp: invalid nested repetition operator: `++`"},
    {"a=~\"a|\"", "{a=~\"a|\"}", NULL},
    {"a=~\"|\"", "{a=~\"|\"}", NULL},
    {"a=~\"()\"", "{a=~\"()\"}", NULL},
    {"a=~\"(?:)\"", "{a=~\"(?:)\"}", NULL},
    {"a=~\"\\b\\B\\A\\z\"", "{a=~\"\\\\b\\\\B\\\\A\\\\z\"}", NULL},
    {"a=~\"[\\pL\\d]\"", "{a=~\"[\\\\pL\\\\d]\"}", NULL},
    {"a=~\"[a-\\d]\"", NULL, "error parsing regexp: invalid escape sequence: `\\d`"},
    {"a=~\"[\\x{10FFFF}]\"", "{a=~\"[\\\\x{10FFFF}]\"}", NULL},
    {"a=~\"\\x{110000}\"", NULL, "error parsing regexp: invalid escape sequence: `\\x{110000`"},
    {"a=~\"\\0101\"", "{a=~\"\\\\0101\"}", NULL},
    {"a=~\"\\e\"", NULL, "error parsing regexp: invalid escape sequence: `\\e`"},
    {"a=~\"a{1}{2}\"", NULL, "error parsing regexp: invalid nested repetition operator: `{1}{2}`"},
    {"a=~\"(?m)^a$\"", "{a=~\"(?m)^a$\"}", NULL},
    {"a=~\"[[:^alpha:]]\"", "{a=~\"[[:^alpha:]]\"}", NULL},
    {"a=~\"\\P{^L}\"", "{a=~\"\\\\P{^L}\"}", NULL},
    {"a=~\"\\p\"", NULL, "error parsing regexp: invalid character class range: `\\p)`"},
    {"a=~\"\\p{\"", NULL, "error parsing regexp: invalid character class range: `\\p{)$`"},
    {"a=~\"x{2}{3}\"", NULL, "error parsing regexp: invalid nested repetition operator: `{2}{3}`"},
    {"a=~\"(a{10}){100}\"", "{a=~\"(a{10}){100}\"}", NULL},
    {"a=~\"(a{10}){101}\"", NULL, "error parsing regexp: invalid repeat count: `{101}`"},
    {"a=~\"((a{10}){10}){10}\"", "{a=~\"((a{10}){10}){10}\"}", NULL},
    {"a=~\"((a{10}){10}){11}\"", NULL, "error parsing regexp: invalid repeat count: `{11}`"},
    {"\xc3""\xa9""=b", NULL, "bad matcher format: \xc3""\xa9""=b"},
    {"a=\xc3""\xa9""", "{a=\"\xc3""\xa9""\"}", NULL},
    {"a= \"spaced\" ", "{a=\"spaced\"}", NULL},
    {"a=\"b\" x", NULL, "matcher value contains unescaped double quote: \"b\" x"},
    {"a=~\"\\\\\"", NULL, "error parsing regexp: missing closing ): `^(?:\\)$`"},
    {"a=~\"[\\]]\"", "{a=~\"[\\\\]]\"}", NULL},
    {"a=~\"}\"", "{a=~\"}\"}", NULL},
    {"a=~\"]\"", "{a=~\"]\"}", NULL},
    {"a=~\"{\"", "{a=~\"{\"}", NULL},
    {"a=~\"a{\"", "{a=~\"a{\"}", NULL},
    {"a=~\"x{2\"", "{a=~\"x{2\"}", NULL},
    {"", "{}", NULL},
    {"a=\"b\"\n", "{a=\"b\"}", NULL},
    {"a=b\n,c=d", "{a=\"b\",c=\"d\"}", NULL},
    {"\ta\t=\t\"b\"\t", "{a=\"b\"}", NULL},
    {"a=b,\xc2""\xa0""", "{a=\"b\"}", NULL},
    {"a=\xc2""\xa0""b\xc2""\xa0""", "{a=\"\xc2""\xa0""b\"}", NULL},
    {"{a=b}}", "{a=\"b}\"}", NULL},
    {"{{a=b}", NULL, "bad matcher format: {a=b"},
    {"a=\"b,c\\\",d\"", "{a=\"b,c\\\",d\"}", NULL},
    {"a=b\\,c", NULL, "bad matcher format: c"},
    {"a=\"b\\,c\",d=e", "{a=\"b\\\\,c\",d=\"e\"}", NULL},
};

/* Every case: the formatted list, or the exact message with the list left
 * as it was (a matcher already in it stays, nothing is added). */
static void test_parse_table(void **state) {
    (void)state;
    size_t n = sizeof PARSE_CASES / sizeof *PARSE_CASES;
    assert_true(n >= 50);
    for (size_t i = 0; i < n; i++) {
        const parse_case *c = &PARSE_CASES[i];
        am_matchers m = {0};
        errbuf err = {{0}};
        assert_int_equal(am_matcher_add(&m, AM_MATCH_EQ, "before", "x", &err), 0);
        int rc = am_matchers_parse(&m, c->input, &err);
        if (c->formatted) {
            if (rc) fail_msg("case %zu %s: unexpected error %s", i, c->input, err.msg);
            buf b = {0};
            am_matchers m2 = {0};
            assert_int_equal(am_matchers_parse(&m2, c->input, &err), 0);
            am_matchers_format(&m2, &b);
            buf_append(&b, "", 1);
            if (strcmp((char *)b.data, c->formatted))
                fail_msg("case %zu %s: got %s, want %s", i, c->input, (char *)b.data, c->formatted);
            assert_int_equal(m.n, m2.n + 1);
            buf_free(&b);
            am_matchers_free(&m2);
        } else {
            if (!rc) fail_msg("case %zu %s: no error, want %s", i, c->input, c->error);
            if (strcmp(err.msg, c->error)) fail_msg("case %zu %s: got %s, want %s", i, c->input, err.msg, c->error);
            assert_int_equal(m.n, 1);
        }
        am_matchers_free(&m);
    }
}

/* The formatted form parses back to the same matchers. */
static void test_format_round_trip(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof PARSE_CASES / sizeof *PARSE_CASES; i++) {
        const parse_case *c = &PARSE_CASES[i];
        if (!c->formatted) continue;
        am_matchers m = {0};
        errbuf err;
        assert_int_equal(am_matchers_parse(&m, c->formatted, &err), 0);
        buf b = {0};
        am_matchers_format(&m, &b);
        buf_append(&b, "", 1);
        assert_string_equal((char *)b.data, c->formatted);
        buf_free(&b);
        am_matchers_free(&m);
    }
}

/* ParseMatcher, as the API's ?filter= uses it: one matcher, no braces, no
 * list, and invalid UTF-8 reported rather than replaced. */
static void test_single_parse(void **state) {
    (void)state;
    am_matchers m = {0};
    errbuf err;
    assert_int_equal(am_matcher_parse(&m, "alertname=Foo", &err), 0);
    assert_int_equal(am_matcher_parse(&m, " job =~ \"a|b\" ", &err), 0);
    assert_int_equal(m.n, 2);
    assert_int_equal(m.v[1].type, AM_MATCH_RE);
    assert_string_equal(m.v[1].value, "a|b");
    assert_int_equal(am_matcher_parse(&m, "a=\"b\",c=\"d\"", &err), -1);
    assert_string_equal(err.msg, "matcher value contains unescaped double quote: \"b\",c=\"d\"");
    assert_int_equal(am_matcher_parse(&m, "{job=\"x\"}", &err), -1);
    assert_string_equal(err.msg, "bad matcher format: {job=\"x\"}");
    assert_int_equal(am_matcher_parse(&m, "", &err), -1);
    assert_string_equal(err.msg, "bad matcher format: ");
    assert_int_equal(am_matcher_parse(&m, "a=\"\xff\"", &err), -1);
    assert_string_equal(err.msg, "matcher value not valid UTF-8: \"\xff\"");
    assert_int_equal(am_matcher_parse(&m, "a=~\"[\"", &err), -1);
    assert_string_equal(err.msg, "error parsing regexp: missing closing ]: `[)$`");
    assert_int_equal(m.n, 2);
    /* The list parser replaces bytes that are not UTF-8, as Go's rune loop does. */
    assert_int_equal(am_matchers_parse(&m, "a=\"\xff\"", &err), 0);
    assert_string_equal(m.v[2].value, "\xef\xbf\xbd");
    am_matchers_free(&m);
    assert_int_equal(m.n, 0);
    assert_null(m.v);
}

static int match1(am_match_type t, const char *pattern, const label *ls, size_t n) {
    am_matchers m = {0};
    errbuf err;
    if (am_matcher_add(&m, t, "a", pattern, &err)) fail_msg("%s: %s", pattern, err.msg);
    int r = am_matchers_match(&m, ls, n);
    am_matchers_free(&m);
    return r;
}

#define L(n, v) {n, sizeof n - 1, v, sizeof v - 1}

/* A missing label is the empty value; regexes match the whole value. */
static void test_match_semantics(void **state) {
    (void)state;
    const label none[] = {L("b", "x")};
    const label empty[] = {L("a", "")};
    const label x[] = {L("a", "x"), L("b", "y")};
    const label ax[] = {L("a", "ax")};

    assert_true(match1(AM_MATCH_EQ, "", none, 1));
    assert_true(match1(AM_MATCH_EQ, "", empty, 1));
    assert_false(match1(AM_MATCH_EQ, "", x, 2));
    assert_false(match1(AM_MATCH_NE, "", none, 1));
    assert_true(match1(AM_MATCH_NE, "", x, 2));
    assert_true(match1(AM_MATCH_NE, "y", none, 1));
    assert_true(match1(AM_MATCH_EQ, "x", x, 2));
    assert_false(match1(AM_MATCH_EQ, "x", ax, 1));

    assert_true(match1(AM_MATCH_RE, "x|y", x, 2));
    assert_false(match1(AM_MATCH_RE, "x|y", ax, 1)); /* anchored: not a substring search */
    assert_false(match1(AM_MATCH_RE, "a", ax, 1));
    assert_true(match1(AM_MATCH_RE, "a.*", ax, 1));
    assert_true(match1(AM_MATCH_RE, ".*", none, 1));
    assert_false(match1(AM_MATCH_RE, ".+", none, 1));
    assert_true(match1(AM_MATCH_NRE, "a.*", x, 2));
    assert_false(match1(AM_MATCH_NRE, "a.*", ax, 1));
    assert_true(match1(AM_MATCH_NRE, "x", none, 1)); /* "" is not x */
    assert_false(match1(AM_MATCH_NRE, "", none, 1));
    assert_true(match1(AM_MATCH_RE, "(?i)X", x, 2));

    /* All matchers must hold; an empty list matches everything. */
    am_matchers m = {0};
    errbuf err;
    assert_true(am_matchers_match(&m, x, 2));
    assert_int_equal(am_matchers_parse(&m, "{a=\"x\", b=~\"y|z\"}", &err), 0);
    assert_true(am_matchers_match(&m, x, 2));
    const label x2[] = {L("b", "y"), L("a", "x")}; /* order of the set does not matter */
    assert_true(am_matchers_match(&m, x2, 2));
    assert_int_equal(am_matchers_parse(&m, "c!=\"\"", &err), 0);
    assert_false(am_matchers_match(&m, x, 2));
    am_matchers_free(&m);
    assert_true(am_matchers_match(&m, NULL, 0));

    /* With a scratch the answers are the same, call after call. */
    am_match_scratch scratch = {0};
    assert_int_equal(am_matchers_parse(&m, "a=~\"x|y\", b!~\"z.*\"", &err), 0);
    for (int i = 0; i < 3; i++) {
        assert_true(am_matchers_match_with(&m, x, 2, &scratch));
        assert_false(am_matchers_match_with(&m, ax, 1, &scratch));
    }
    am_match_scratch_free(&scratch);
    am_match_scratch_free(&scratch);
    am_matchers_free(&m);
}

typedef struct {
    const char *pattern;
    const char *value;
    int want;
} sem_case;

/* Patterns Go and PCRE2 would read differently; each expected answer is
 * what Alertmanager 0.25 decided for an alert with that value (a silence
 * with the pattern, checked through its API). */
static void test_go_regex_semantics(void **state) {
    (void)state;
    static const sem_case cases[] = {
        {"\\v", "\v", 1},          {"\\v", "\n", 0},          {"a{01}", "a{01}", 1},       {"a{01}", "a", 0},
        {"[\\d-z]", "-", 1},       {"[\\d-z]", "a", 0},       {"a$", "a\n", 0},            {".", "\n", 0},
        {"(?s).", "\n", 1},        {"^*x", "x", 1},           {"\\101", "A", 1},           {"a{,2}", "a{,2}", 1},
        {"a{,2}", "aa", 0},        {"\\Q.*\\E", ".*", 1},     {"\\Q.*\\E", "ab", 0},       {"(?i)ABC", "abc", 1},
        {"\\pL+", "\xc3\xa9" "a", 1}, {"[[:alpha:]]+", "\xc3\xa9", 0}, {"\\w+", "\xc3\xa9", 0}, {"\\s", "\v", 0},
        {"\\s", "\f", 1},          {"[^a]", "\n", 1},         {"\\x41", "A", 1},           {"\\x{263a}", "\xe2\x98\xba", 1},
        {"(?U)a+", "aaa", 1},      {"a|", "", 1},             {"\\b", "", 0},              {"[\\S]", "\v", 1},
        {"[^\\s]", "\t", 0},       {"\\S", "\v", 1},          {"(?P<n>a)(?P<n>b)", "ab", 1}, {"[]a]", "]", 1},
        {"}", "}", 1},             {"]", "]", 1},             {"x{2}", "xx", 1},           {"(a{10}){100}", "", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        am_matchers m = {0};
        errbuf err;
        if (am_matcher_add(&m, AM_MATCH_RE, "a", cases[i].pattern, &err)) fail_msg("%s: %s", cases[i].pattern, err.msg);
        int got = am_matcher_matches(&m.v[0], cases[i].value, strlen(cases[i].value));
        if (got != cases[i].want) fail_msg("%s on \"%s\": got %d", cases[i].pattern, cases[i].value, got);
        am_matchers_free(&m);
    }
}

/* Silence validation compiles the bare pattern, routes the anchored one:
 * "a)(b" is an error alone and fine inside ^(?:...)$. */
static void test_regex_check(void **state) {
    (void)state;
    errbuf err;
    assert_int_equal(am_regex_check("a)(b", 4, &err), -1);
    assert_string_equal(err.msg, "error parsing regexp: unexpected ): `a)(b`");
    am_matchers m = {0};
    assert_int_equal(am_matcher_add(&m, AM_MATCH_RE, "a", "a)(b", &err), 0);
    label ab[] = {L("a", "ab")};
    assert_true(am_matchers_match(&m, ab, 1));
    am_matchers_free(&m);
    assert_int_equal(am_regex_check("b[", 2, &err), -1);
    assert_string_equal(err.msg, "error parsing regexp: missing closing ]: `[`");
    assert_int_equal(am_regex_check("a\\", 2, &err), -1);
    assert_string_equal(err.msg, "error parsing regexp: trailing backslash at end of expression: ``");
    assert_int_equal(am_regex_check("", 0, &err), 0);
    assert_int_equal(am_regex_check("x\xff", 2, &err), -1);
    assert_string_equal(err.msg, "error parsing regexp: invalid UTF-8: `\xff`");
    assert_int_equal(am_matcher_add(&m, AM_MATCH_NRE, "a", "(", &err), -1);
    assert_string_equal(err.msg, "error parsing regexp: missing closing ): `^(?:()$`");
    assert_int_equal(m.n, 0);
    am_matchers_free(&m);
}

/* Names and values are copied and formatted with OpenMetrics escapes. */
static void test_add_and_format(void **state) {
    (void)state;
    am_matchers m = {0};
    errbuf err;
    char name[] = "severity", value[] = "a\"b\\c\nd";
    assert_int_equal(am_matcher_add(&m, AM_MATCH_NE, name, value, &err), 0);
    name[0] = value[0] = 'X';
    assert_int_equal(am_matcher_add(&m, AM_MATCH_NRE, "job", "x|y", &err), 0);
    assert_string_equal(m.v[0].name, "severity");
    assert_int_equal(m.v[0].value_len, 7);
    buf b = {0};
    am_matchers_format(&m, &b);
    buf_append(&b, "", 1);
    assert_string_equal((char *)b.data, "{severity!=\"a\\\"b\\\\c\\nd\",job!~\"x|y\"}");
    buf_reset(&b);
    am_matcher_format(&m.v[1], &b);
    buf_append(&b, "", 1);
    assert_string_equal((char *)b.data, "job!~\"x|y\"");
    buf_free(&b);
    assert_string_equal(am_match_type_op(AM_MATCH_EQ), "=");
    assert_string_equal(am_match_type_op(AM_MATCH_RE), "=~");
    am_matchers_free(&m);
    am_matchers_free(&m); /* freeing an empty list is harmless */
}

static void quote_is(const char *in, size_t n, const char *want) {
    buf b = {0};
    am_go_quote(&b, in, n);
    buf_append(&b, "", 1);
    assert_string_equal((char *)b.data, want);
    buf_free(&b);
}

static void test_go_quote(void **state) {
    (void)state;
    quote_is("a-b", 3, "\"a-b\"");
    quote_is("a\"b\\", 4, "\"a\\\"b\\\\\"");
    quote_is("\n\t\x01\x7f", 4, "\"\\n\\t\\x01\\x7f\"");
    quote_is("\xc3\xa9", 2, "\"\xc3\xa9\"");
    quote_is("\xe2\x80\xa8", 3, "\"\\u2028\"");
    quote_is("\xff", 1, "\"\\xff\"");
    quote_is("", 0, "\"\"");
}

typedef struct {
    const am_matchers *m;
    int mismatches;
} worker;

static void *match_many(void *arg) {
    worker *w = arg;
    char v[32];
    for (int i = 0; i < 20000; i++) {
        int len = snprintf(v, sizeof v, "host-%d.example", i);
        label ls[] = {{"instance", 8, v, (uint32_t)len}, L("job", "node")};
        int want = i % 10 == 3;
        if (am_matchers_match(w->m, ls, 2) != want) w->mismatches++;
    }
    return NULL;
}

/* Two threads matching the same compiled regex at once get the answers one
 * thread would (run under ThreadSanitizer or Helgrind to see the rest). */
static void test_concurrent_matching(void **state) {
    (void)state;
    am_matchers m = {0};
    errbuf err;
    assert_int_equal(am_matchers_parse(&m, "{instance=~\"host-[0-9]*3\\\\.example\", job=\"node\"}", &err), 0);
    worker w[4];
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (worker){&m, 0};
        assert_int_equal(pthread_create(&t[i], NULL, match_many, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(w[i].mismatches, 0);
    }
    am_matchers_free(&m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_table),       cmocka_unit_test(test_format_round_trip),
        cmocka_unit_test(test_single_parse),      cmocka_unit_test(test_match_semantics),
        cmocka_unit_test(test_go_regex_semantics), cmocka_unit_test(test_regex_check),
        cmocka_unit_test(test_add_and_format),    cmocka_unit_test(test_go_quote),
        cmocka_unit_test(test_concurrent_matching),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
