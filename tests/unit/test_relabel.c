/*
 * test_relabel.c - relabeling rules: the cases of Prometheus 2.42's
 * model/relabel/relabel_test.go (TestRelabel, TestRelabelValidate,
 * TestTargetLabelValidity) ported to C, plus the edges of regex anchoring,
 * Go's replacement expansion, hashmod values and the config loader's error
 * messages as promtool 2.42 prints them.
 *
 * Each case builds its rules from relabel_spec literals, applies them to a
 * label set given as "name=value" pairs and compares the result, written
 * back as "name=value,name=value" in output order, with the expected text.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/relabel.h"

#define SRC(...) .source_labels = (const char *const[]){__VA_ARGS__}, \
                 .nsource = sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *)
#define MOD(m) .has_modulus = 1, .modulus = (m)
#define NRULES(a) (sizeof(a) / sizeof((a)[0]))

/* Builds the rules (each must be valid), applies them to in (pairs of
 * name, value strings, NULL-terminated, any order), frees the rules and
 * writes the result into got as "n=v,n=v"; returns 1 kept, 0 dropped. */
static int run(const relabel_spec *specs, size_t nspecs, const char *const *in, char *got, size_t gotlen) {
    relabel_rule *rules[16];
    assert_true(nspecs <= 16);
    for (size_t i = 0; i < nspecs; i++) {
        errbuf err = {{0}};
        int rc = relabel_rule_new(&specs[i], &rules[i], &err);
        if (rc != 0) print_error("rule %zu: %s\n", i, err.msg);
        assert_int_equal(rc, 0);
    }
    label ls[32];
    size_t n = 0;
    for (; in[2 * n]; n++)
        ls[n] = (label){in[2 * n], (uint32_t)strlen(in[2 * n]), in[2 * n + 1], (uint32_t)strlen(in[2 * n + 1])};
    labels_sort(ls, n);
    relabel_builder b;
    relabel_builder_init(&b);
    int keep = relabel_apply(rules, nspecs, ls, n, &b);
    size_t o = 0;
    got[0] = 0;
    if (keep) {
        for (size_t i = 0; i < b.n; i++) {
            /* The output is sorted, has no empty values and is NUL-terminated. */
            if (i) assert_true(strcmp(b.labels[i - 1].name, b.labels[i].name) < 0);
            assert_true(b.labels[i].value_len > 0);
            assert_int_equal(strlen(b.labels[i].value), b.labels[i].value_len);
            o += (size_t)snprintf(got + o, gotlen - o, "%s%s=%s", i ? "," : "", b.labels[i].name, b.labels[i].value);
        }
    }
    relabel_builder_free(&b);
    for (size_t i = 0; i < nspecs; i++) relabel_rule_free(rules[i]);
    return keep;
}

/* Asserts that the rules keep the set and produce want. */
#define EXPECT(specs, want, ...)                                                  \
    do {                                                                          \
        char got_[1024];                                                          \
        const char *const in_[] = {__VA_ARGS__, NULL};                            \
        assert_int_equal(run(specs, NRULES(specs), in_, got_, sizeof got_), 1);  \
        assert_string_equal(got_, want);                                          \
    } while (0)
/* Asserts that the rules drop the set. */
#define EXPECT_DROP(specs, ...)                                                   \
    do {                                                                          \
        char got_[1024];                                                          \
        const char *const in_[] = {__VA_ARGS__, NULL};                            \
        assert_int_equal(run(specs, NRULES(specs), in_, got_, sizeof got_), 0);  \
    } while (0)

/* Asserts that building spec fails with exactly msg. */
static void expect_invalid(relabel_spec spec, const char *msg) {
    relabel_rule *r = (relabel_rule *)0x1;
    errbuf err = {{0}};
    assert_int_equal(relabel_rule_new(&spec, &r, &err), -1);
    assert_null(r);
    assert_string_equal(err.msg, msg);
}

static void expect_valid(relabel_spec spec) {
    relabel_rule *r = NULL;
    errbuf err = {{0}};
    int rc = relabel_rule_new(&spec, &r, &err);
    if (rc) print_error("unexpected error: %s\n", err.msg);
    assert_int_equal(rc, 0);
    relabel_rule_free(r);
}

/* ------------------------------------------------- TestRelabel, ported */

static void test_replace(void **state) {
    (void)state;
    relabel_spec r1[] = {{SRC("a"), .regex = "f(.*)", .target_label = "d", .separator = ";",
                          .replacement = "ch${1}-ch${1}", .action = "replace"}};
    EXPECT(r1, "a=foo,b=bar,c=baz,d=choo-choo", "a", "foo", "b", "bar", "c", "baz");

    relabel_spec r2[] = {
        {SRC("a", "b"), .regex = "f(.*);(.*)r", .target_label = "a", .replacement = "b${1}${2}m"},
        {SRC("c", "a"), .regex = "(b).*b(.*)ba(.*)", .target_label = "d", .replacement = "$1$2$2$3"},
    };
    EXPECT(r2, "a=boobam,b=bar,c=baz,d=boooom", "a", "foo", "b", "bar", "c", "baz");

    relabel_spec r3[] = {{SRC("a"), .regex = ".*(b).*", .target_label = "d", .replacement = "$1"}};
    EXPECT(r3, "a=abc,d=b", "a", "abc");

    /* No replacement takes place when the regex does not match. */
    relabel_spec r4[] = {{SRC("a"), .regex = "f", .target_label = "b", .replacement = "bar"}};
    EXPECT(r4, "a=boo", "a", "boo");
}

static void test_drop_keep(void **state) {
    (void)state;
    relabel_spec d1[] = {{SRC("a"), .regex = ".*o.*", .action = "drop"},
                         {SRC("a"), .regex = "f(.*)", .target_label = "d", .replacement = "ch$1-ch$1"}};
    EXPECT_DROP(d1, "a", "foo");
    relabel_spec d2[] = {{SRC("a"), .regex = ".*o.*", .action = "drop"}};
    EXPECT_DROP(d2, "a", "foo", "b", "bar");
    relabel_spec d3[] = {{SRC("a"), .regex = "no-match", .action = "drop"}};
    EXPECT(d3, "a=foo", "a", "foo");
    /* Anchored: "f|o" is ^(?:f|o)$, which "foo" does not match. */
    relabel_spec d4[] = {{SRC("a"), .regex = "f|o", .action = "drop"}};
    EXPECT(d4, "a=foo", "a", "foo");
    relabel_spec k1[] = {{SRC("a"), .regex = "no-match", .action = "keep"}};
    EXPECT_DROP(k1, "a", "foo");
    relabel_spec k2[] = {{SRC("a"), .regex = "f.*", .action = "keep"}};
    EXPECT(k2, "a=foo", "a", "foo");
}

static void test_hashmod(void **state) {
    (void)state;
    relabel_spec h1[] = {{SRC("c"), .target_label = "d", .separator = ";", .action = "hashmod", MOD(1000)}};
    EXPECT(h1, "a=foo,b=bar,c=baz,d=976", "a", "foo", "b", "bar", "c", "baz");
    relabel_spec h2[] = {{SRC("a"), .target_label = "b", .action = "hashmod", MOD(1000)}};
    EXPECT(h2, "a=foo\nbar,b=734", "a", "foo\nbar");
    /* More vectors, computed as Prometheus does (last 8 bytes of the MD5,
     * big-endian, modulo): the empty value, a joined value, huge moduli. */
    relabel_spec h3[] = {{SRC("x"), .target_label = "h", .action = "hashmod", MOD(10)}};
    EXPECT(h3, "a=1,h=8", "a", "1");
    relabel_spec h4[] = {{SRC("__address__"), .target_label = "__tmp_hash", .action = "hashmod", MOD(8)}};
    EXPECT(h4, "__address__=10.0.0.1:9100,__tmp_hash=5", "__address__", "10.0.0.1:9100");
    relabel_spec h5[] = {{SRC("a", "b"), .target_label = "h", .action = "hashmod", MOD(4294967296ULL)}};
    EXPECT(h5, "a=a,b=b,h=1865334026", "a", "a", "b", "b");
    relabel_spec h6[] = {{SRC("a"), .target_label = "h", .action = "hashmod", MOD(UINT64_MAX)}};
    EXPECT(h6, "a=h\xc3\xa9llo,h=6438959103371451216", "a", "h\xc3\xa9llo");
    relabel_spec h7[] = {{SRC("a"), .target_label = "h", .action = "hashmod", MOD(1)}};
    EXPECT(h7, "a=x,h=0", "a", "x");
    /* hashmod overwrites an existing target. */
    EXPECT(h7, "a=x,h=0", "a", "x", "h", "old");
}

static void test_labelmap(void **state) {
    (void)state;
    relabel_spec m1[] = {{.regex = "(b.*)", .replacement = "bar_${1}", .action = "labelmap"}};
    EXPECT(m1, "a=foo,b1=bar,b2=baz,bar_b1=bar,bar_b2=baz", "a", "foo", "b1", "bar", "b2", "baz");
    relabel_spec m2[] = {{.regex = "__meta_(my.*)", .replacement = "${1}", .action = "labelmap"}};
    EXPECT(m2, "__meta_my_bar=aaa,__meta_my_baz=bbb,__meta_other=ccc,a=foo,my_bar=aaa,my_baz=bbb", "a", "foo",
           "__meta_my_bar", "aaa", "__meta_my_baz", "bbb", "__meta_other", "ccc");
    /* Default replacement $1 and the Kubernetes idiom; the mapped name
     * overwrites an existing label. */
    relabel_spec m3[] = {{.regex = "__meta_kubernetes_pod_label_(.+)", .action = "labelmap"}};
    EXPECT(m3, "__meta_kubernetes_pod_label_app=web,app=web", "__meta_kubernetes_pod_label_app", "web", "app",
           "old");
    /* The rule sees the set as it was: a mapped label is not mapped again. */
    relabel_spec m4[] = {{.regex = "(.*)", .replacement = "x_$1", .action = "labelmap"}};
    EXPECT(m4, "a=1,x_a=1,x_x_a=2", "a", "1", "x_a", "2");
}

static void test_target_expansion(void **state) {
    (void)state;
    relabel_spec t1[] = {{SRC("a"), .regex = "some-([^-]+)-([^,]+)", .replacement = "${2}", .target_label = "${1}"}};
    EXPECT(t1, "a=some-name-value,name=value", "a", "some-name-value");
    /* ${3} does not exist: the replacement is empty, and deletes the target
     * (which does not exist either). */
    relabel_spec t2[] = {{SRC("a"), .regex = "some-([^-]+)-([^,]+)", .replacement = "${3}", .target_label = "${1}"}};
    EXPECT(t2, "a=some-name-value", "a", "some-name-value");
    /* Targets that expand to "" or to "0": invalid names, nothing changes. */
    relabel_spec t3[] = {
        {SRC("a"), .regex = "some-([^-]+)-([^,]+)", .replacement = "${1}", .target_label = "${3}"},
        {SRC("a"), .regex = "some-([^-]+)-([^,]+)", .replacement = "${1}", .target_label = "${3}"},
        {SRC("a"), .regex = "some-([^-]+)(-[^,]+)", .replacement = "${1}", .target_label = "${3}"},
        {SRC("a"), .regex = "some-([^-]+)-([^,]+)", .replacement = "x", .target_label = "${2}"},
    };
    EXPECT(t3, "a=some-name-0", "a", "some-name-0");
    /* A target that expands to an invalid name leaves the set unchanged. */
    relabel_spec t4[] = {{SRC("a"), .regex = "(.*)", .target_label = "l_$1", .replacement = "v"}};
    EXPECT(t4, "a=x-y", "a", "x-y");
    EXPECT(t4, "a=xy,l_xy=v", "a", "xy");
}

static void test_real_life(void **state) {
    (void)state;
    relabel_spec r[] = {
        {SRC("__meta_sd_tags"), .regex = "(?:.+,|^)path:(/[^,]+).*", .replacement = "${1}",
         .target_label = "__metrics_path__"},
        {SRC("__meta_sd_tags"), .regex = "(?:.+,|^)job:([^,]+).*", .replacement = "${1}", .target_label = "job"},
        {SRC("__meta_sd_tags"), .regex = "(?:.+,|^)label:([^=]+)=([^,]+).*", .replacement = "${2}",
         .target_label = "${1}"},
    };
    EXPECT(r, "__meta_sd_tags=path:/secret,job:some-job,label:foo=bar,__metrics_path__=/secret,foo=bar,job=some-job",
           "__meta_sd_tags", "path:/secret,job:some-job,label:foo=bar");
    /* prometheus/prometheus#12283: a label dropped, then set again, then kept. */
    relabel_spec k[] = {
        {.regex = "^__meta_kubernetes_pod_container_port_name$", .action = "labeldrop"},
        {SRC("__meta_kubernetes_pod_annotation_XXX_metrics_port"), .regex = "(.+)", .replacement = "metrics",
         .target_label = "__meta_kubernetes_pod_container_port_name"},
        {SRC("__meta_kubernetes_pod_container_port_name"), .regex = "^metrics$", .action = "keep"},
    };
    EXPECT(k, "__meta_kubernetes_pod_annotation_XXX_metrics_port=9091,__meta_kubernetes_pod_container_port_name=metrics",
           "__meta_kubernetes_pod_container_port_name", "foo", "__meta_kubernetes_pod_annotation_XXX_metrics_port",
           "9091");
}

static void test_labelkeep_labeldrop(void **state) {
    (void)state;
    relabel_spec k[] = {{.regex = "(b.*)", .action = "labelkeep"}};
    EXPECT(k, "b1=bar,b2=baz", "a", "foo", "b1", "bar", "b2", "baz");
    relabel_spec d[] = {{.regex = "(b.*)", .action = "labeldrop"}};
    EXPECT(d, "a=foo", "a", "foo", "b1", "bar", "b2", "baz");
    /* Names are matched whole: "b" keeps only the label named exactly b. */
    relabel_spec k2[] = {{.regex = "b", .action = "labelkeep"}};
    EXPECT(k2, "b=2", "a", "1", "b", "2", "bb", "3");
    /* labelkeep may empty the set; an empty set is still kept. */
    relabel_spec k3[] = {{.regex = "nothing", .action = "labelkeep"}};
    EXPECT(k3, "", "a", "1");
}

static void test_case(void **state) {
    (void)state;
    relabel_spec c[] = {{SRC("foo"), .action = "uppercase", .target_label = "foo_uppercase"},
                        {SRC("foo"), .action = "lowercase", .target_label = "foo_lowercase"}};
    EXPECT(c, "foo=bAr123Foo,foo_lowercase=bar123foo,foo_uppercase=BAR123FOO", "foo", "bAr123Foo");
    /* Unicode, as Go's strings.ToLower/ToUpper: é/É, final sigma, Kelvin sign. */
    relabel_spec u[] = {{SRC("v"), .action = "uppercase", .target_label = "up"},
                        {SRC("v"), .action = "lowercase", .target_label = "lo"}};
    EXPECT(u, "lo=\xc3\xa9\xcf\x82k,up=\xc3\x89\xce\xa3\xe2\x84\xaa,v=\xc3\xa9\xcf\x82\xe2\x84\xaa", "v",
           "\xc3\xa9\xcf\x82\xe2\x84\xaa");
    /* Invalid UTF-8 becomes U+FFFD; an empty result deletes the target. */
    EXPECT(u, "lo=a\xef\xbf\xbd,up=A\xef\xbf\xbd,v=a\xff", "v", "a\xff");
    EXPECT(u, "x=1", "x", "1", "up", "stale", "lo", "stale");
}

static void test_keepequal_dropequal(void **state) {
    (void)state;
    relabel_spec ke1[] = {{SRC("__tmp_port"), .action = "keepequal", .target_label = "__port1"}};
    EXPECT(ke1, "__port1=1234,__port2=5678,__tmp_port=1234", "__tmp_port", "1234", "__port1", "1234", "__port2",
           "5678");
    relabel_spec de1[] = {{SRC("__tmp_port"), .action = "dropequal", .target_label = "__port1"}};
    EXPECT_DROP(de1, "__tmp_port", "1234", "__port1", "1234", "__port2", "5678");
    relabel_spec de2[] = {{SRC("__tmp_port"), .action = "dropequal", .target_label = "__port2"}};
    EXPECT(de2, "__port1=1234,__port2=5678,__tmp_port=1234", "__tmp_port", "1234", "__port1", "1234", "__port2",
           "5678");
    relabel_spec ke2[] = {{SRC("__tmp_port"), .action = "keepequal", .target_label = "__port2"}};
    EXPECT_DROP(ke2, "__tmp_port", "1234", "__port1", "1234", "__port2", "5678");
    /* An absent target equals an absent (empty) source. */
    relabel_spec ke3[] = {{SRC("nope"), .action = "keepequal", .target_label = "absent"}};
    EXPECT(ke3, "a=1", "a", "1");
    /* The joined value of several sources is compared. */
    relabel_spec ke4[] = {{SRC("a", "b"), .action = "keepequal", .target_label = "c"}};
    EXPECT(ke4, "a=1,b=2,c=1;2", "a", "1", "b", "2", "c", "1;2");
}

/* -------------------------------------------------- beyond the Go tests */

static void test_defaults(void **state) {
    (void)state;
    /* Action replace, regex (.*), replacement $1, separator ";". */
    relabel_spec d[] = {{SRC("a", "b"), .target_label = "c"}};
    EXPECT(d, "a=x,b=y,c=x;y", "a", "x", "b", "y");
    /* A missing source label counts as "". */
    EXPECT(d, "a=x,c=x;", "a", "x");
    /* Two empty sources still join to ";". */
    EXPECT(d, "c=;,z=1", "z", "1", "c", "old");
    /* An empty source: (.*) matches "", $1 is "", so c is deleted. */
    relabel_spec d1[] = {{SRC("a"), .target_label = "c"}};
    EXPECT(d1, "z=1", "z", "1", "c", "old");
    /* No source labels at all: a constant. */
    relabel_spec k[] = {{.target_label = "env", .replacement = "prod"}};
    EXPECT(k, "a=1,env=prod", "a", "1");
    /* The separator given, even empty. */
    relabel_spec s[] = {{SRC("a", "b"), .separator = "", .target_label = "c"},
                        {SRC("a", "b"), .separator = "::", .target_label = "d"}};
    EXPECT(s, "a=x,b=y,c=xy,d=x::y", "a", "x", "b", "y");
    /* Action names are case-insensitive, as Prometheus lower-cases them. */
    relabel_spec up[] = {{SRC("a"), .regex = "x", .action = "DROP"}};
    EXPECT_DROP(up, "a", "x");
    relabel_rule *r = NULL;
    errbuf err;
    relabel_spec lm = {.action = "LabelMap", .regex = "a"};
    assert_int_equal(relabel_rule_new(&lm, &r, &err), 0);
    assert_int_equal(relabel_rule_action(r), RELABEL_LABELMAP);
    relabel_rule_free(r);
}

static void test_anchoring(void **state) {
    (void)state;
    relabel_spec a[] = {{SRC("a"), .regex = "o", .target_label = "m", .replacement = "yes"}};
    EXPECT(a, "a=foo", "a", "foo");
    EXPECT(a, "a=o,m=yes", "a", "o");
    /* "$" is the end of the text only, not "before a final newline". */
    relabel_spec n[] = {{SRC("a"), .regex = "foo", .action = "keep"}};
    EXPECT_DROP(n, "a", "foo\n");
    /* "." does not match a newline, so (.*) misses a multi-line value. */
    relabel_spec dot[] = {{SRC("a"), .target_label = "b"}};
    EXPECT(dot, "a=x\ny", "a", "x\ny");
    relabel_spec s[] = {{SRC("a"), .regex = "(?s)(.*)", .target_label = "b"}};
    EXPECT(s, "a=x\ny,b=x\ny", "a", "x\ny");
    /* An explicit ^...$ inside the anchors is harmless; alternation is
     * grouped before anchoring. */
    relabel_spec alt[] = {{SRC("a"), .regex = "^foo$|bar", .action = "keep"}};
    EXPECT(alt, "a=bar", "a", "bar");
    EXPECT_DROP(alt, "a", "xbar");
    /* Empty regex: matches only the empty value. */
    relabel_spec e[] = {{SRC("a"), .regex = "", .action = "keep"}};
    EXPECT(e, "b=1", "b", "1");
    EXPECT_DROP(e, "a", "1");
    /* UTF-8 aware: "." is one code point. */
    relabel_spec u[] = {{SRC("a"), .regex = "(.)(.)", .target_label = "b", .replacement = "$2$1"}};
    EXPECT(u, "a=\xc3\xa9x,b=x\xc3\xa9", "a", "\xc3\xa9x");
}

static void test_expand_edges(void **state) {
    (void)state;
    /* "$1x" names the group "1x", which does not exist: empty, so the
     * target is deleted; "${1}x" is group 1 then "x". */
    relabel_spec r1[] = {{SRC("a"), .regex = "(.*)", .target_label = "t", .replacement = "$1x"}};
    EXPECT(r1, "a=v", "a", "v", "t", "old");
    relabel_spec r2[] = {{SRC("a"), .regex = "(.*)", .target_label = "t", .replacement = "${1}x"}};
    EXPECT(r2, "a=v,t=vx", "a", "v");
    /* "$$" is a literal "$"; a "$" that starts no reference is literal. */
    relabel_spec r3[] = {{SRC("a"), .regex = "(.*)", .target_label = "t", .replacement = "$$1 $ ${ ${} $-$"}};
    EXPECT(r3, "a=v,t=$1 $ ${ ${} $-$", "a", "v");
    /* $0 is the whole match; a leading zero makes a name, not a number. */
    relabel_spec r4[] = {{SRC("a"), .regex = "a(b)", .target_label = "t", .replacement = "[$0|${01}|${1}]"}};
    EXPECT(r4, "a=ab,t=[ab||b]", "a", "ab");
    /* Named groups, by $name and ${name}; an unknown name is empty. */
    relabel_spec r5[] = {{SRC("a"), .regex = "(?P<host>[^:]+):(?P<port>\\d+)", .target_label = "t",
                          .replacement = "${port}/$host/$nope/$2"}};
    EXPECT(r5, "a=h:80,t=80/h//80", "a", "h:80");
    /* A name is a run of Unicode letters and digits too: "$1é" is the
     * unknown group "1é". */
    relabel_spec r6[] = {{SRC("a"), .regex = "(.*)", .target_label = "t", .replacement = "<$1\xc3\xa9>"}};
    EXPECT(r6, "a=v,t=<>", "a", "v");
    /* A group that did not take part in the match is empty. */
    relabel_spec r7[] = {{SRC("a"), .regex = "(x)?(y)", .target_label = "t", .replacement = "[$1$2]"}};
    EXPECT(r7, "a=y,t=[y]", "a", "y");
    /* An empty expansion deletes an existing target. */
    relabel_spec r8[] = {{SRC("a"), .regex = "(.*)-(.*)", .target_label = "b", .replacement = "$2"}};
    EXPECT(r8, "a=x-", "a", "x-", "b", "old");
    /* A huge group number expands to nothing. */
    relabel_spec r9[] = {{SRC("a"), .target_label = "t", .replacement = "a${100000000}b${999999999999}"}};
    EXPECT(r9, "a=v,t=ab", "a", "v");
    /* A target label with several references. */
    relabel_spec r10[] = {{SRC("a"), .regex = "(\\w+)/(\\w+)", .target_label = "${1}_$2", .replacement = "ok"}};
    EXPECT(r10, "a=x/y,x_y=ok", "a", "x/y");
}

/* Cases run through the real Prometheus 2.42 here (target relabeling, read
 * back from /api/v1/targets); these are its answers. */
static void test_checked_against_prometheus(void **state) {
    (void)state;
    relabel_spec h[] = {{SRC("c", "a"), .target_label = "e", .action = "hashmod", MOD(UINT64_MAX)}};
    EXPECT(h, "a=foo\nbar,c=baz,e=4851740113560905058", "a", "foo\nbar", "c", "baz");
    relabel_spec u[] = {{SRC("w"), .target_label = "wu", .action = "uppercase"}};
    EXPECT(u, "w=a\xc3\xbf,wu=A\xc5\xb8", "w", "a\xc3\xbf");
    /* A repeated group name: the first group of that name that matched. */
    relabel_spec d[] = {{SRC("a"), .regex = "(?P<n>h):(?P<n>\\d+)", .target_label = "t4", .replacement = "<$n>"}};
    EXPECT(d, "a=h:80,t4=<h>", "a", "h:80");
    /* lowercase does not expand its target_label. */
    relabel_spec l[] = {{SRC("v"), .target_label = "${1}", .action = "lowercase"}};
    EXPECT(l, "${1}=abc,v=AbC", "v", "AbC");
    /* labelmap does not check the name it makes. */
    relabel_spec m[] = {{.regex = "l_(.*)", .action = "labelmap"}};
    EXPECT(m, "1x=q,l_1x=q", "l_1x", "q");
    /* A "$" reference that expands to nothing, then no match at all. */
    relabel_spec r[] = {{SRC("a"), .target_label = "t", .replacement = "$1x"},
                        {SRC("a"), .regex = "a(b)", .target_label = "u", .replacement = "x"}};
    EXPECT(r, "a=v,u=old", "a", "v", "t", "old", "u", "old");
}

static void test_empty_values_and_builder(void **state) {
    (void)state;
    /* Empty input values are not labels: gone from the output, "" to rules. */
    relabel_spec n[] = {{.regex = "nothing", .action = "labeldrop"}};
    EXPECT(n, "a=1", "a", "1", "b", "");
    /* Chained rules see each other's results. */
    relabel_spec c[] = {{SRC("a"), .target_label = "b", .replacement = "${1}${1}"},
                        {SRC("b"), .target_label = "c", .replacement = "<$1>"},
                        {.regex = "a", .action = "labeldrop"}};
    EXPECT(c, "b=xx,c=<xx>", "a", "x");

    /* A builder reused, fed its own previous result, with unsorted input. */
    relabel_spec s1 = {SRC("a"), .target_label = "b", .replacement = "long-value-$1-long-value"};
    relabel_rule *r;
    errbuf err;
    assert_int_equal(relabel_rule_new(&s1, &r, &err), 0);
    relabel_builder b;
    relabel_builder_init(&b);
    char va[] = "x";
    label in[] = {{"z", 1, "9", 1}, {"a", 1, va, 1}};
    assert_int_equal(relabel_apply(&r, 1, in, 2, &b), 1);
    va[0] = 'Q'; /* the result is a copy */
    assert_int_equal(b.n, 3);
    assert_string_equal(b.labels[0].name, "a");
    assert_string_equal(b.labels[0].value, "x");
    assert_string_equal(b.labels[1].value, "long-value-x-long-value");
    assert_string_equal(b.labels[2].name, "z");
    for (int i = 0; i < 50; i++) {
        assert_int_equal(relabel_apply(&r, 1, b.labels, b.n, &b), 1);
        assert_int_equal(b.n, 3);
        assert_string_equal(b.labels[0].value, "x");
        assert_string_equal(b.labels[1].value, "long-value-x-long-value");
        assert_string_equal(b.labels[2].value, "9");
    }
    /* No rules: the set, copied. */
    assert_int_equal(relabel_apply(NULL, 0, in, 2, &b), 1);
    assert_int_equal(b.n, 2);
    assert_string_equal(b.labels[0].value, "Q");
    relabel_builder_free(&b);
    relabel_rule_free(r);
}

/* ---------------------------------------------------------- validation */

static void test_validate(void **state) {
    (void)state;
    /* TestRelabelValidate. */
    expect_invalid((relabel_spec){.action = "replace"},
                   "relabel configuration for replace action requires 'target_label' value");
    expect_invalid((relabel_spec){.action = "lowercase"},
                   "relabel configuration for lowercase action requires 'target_label' value");
    expect_valid((relabel_spec){SRC("a"), .regex = "some-([^-]+)-([^,]+)", .replacement = "${1}", .target_label = "${3}"});
    expect_invalid((relabel_spec){SRC("a"), .regex = "some-([^-]+)-([^,]+)", .replacement = "${1}",
                                  .target_label = "0${3}"},
                   "\"0${3}\" is invalid 'target_label' for replace action");
    expect_invalid((relabel_spec){SRC("a"), .regex = "some-([^-]+)-([^,]+)", .replacement = "${1}",
                                  .target_label = "-${3}"},
                   "\"-${3}\" is invalid 'target_label' for replace action");
    /* The messages below are promtool 2.42's, checked on the real thing. */
    expect_invalid((relabel_spec){.action = "hashmod", .target_label = "a"},
                   "relabel configuration for hashmod requires non-zero modulus");
    expect_invalid((relabel_spec){.action = "hashmod"}, "relabel configuration for hashmod requires non-zero modulus");
    expect_invalid((relabel_spec){.action = "hashmod", MOD(2)},
                   "relabel configuration for hashmod action requires 'target_label' value");
    expect_invalid((relabel_spec){.action = "hashmod", .target_label = "$1", MOD(2)},
                   "\"$1\" is invalid 'target_label' for hashmod action");
    expect_invalid((relabel_spec){.target_label = "1foo"}, "\"1foo\" is invalid 'target_label' for replace action");
    expect_invalid((relabel_spec){.target_label = "a$"}, "\"a$\" is invalid 'target_label' for replace action");
    expect_invalid((relabel_spec){.target_label = "$$"}, "\"$$\" is invalid 'target_label' for replace action");
    expect_invalid((relabel_spec){.target_label = "\xc3\xa9"}, "\"\xc3\xa9\" is invalid 'target_label' for replace action");
    expect_invalid((relabel_spec){.action = "x"}, "unknown relabel action \"x\"");
    expect_invalid((relabel_spec){.action = ""}, "unknown relabel action \"\"");
    expect_invalid((relabel_spec){.action = "a\"b\n"}, "unknown relabel action \"a\\\"b\\n\"");
    expect_invalid((relabel_spec){.action = "labelmap", .replacement = "1$1"},
                   "\"1$1\" is invalid 'replacement' for labelmap action");
    expect_invalid((relabel_spec){.action = "labelmap", .replacement = "$1-x"},
                   "\"$1-x\" is invalid 'replacement' for labelmap action");
    expect_invalid((relabel_spec){.action = "labelmap", .replacement = ""},
                   "\"\" is invalid 'replacement' for labelmap action");
    expect_valid((relabel_spec){.action = "labelmap"}); /* no source_labels needed */
    expect_invalid((relabel_spec){.action = "lowercase", .target_label = "a", .replacement = "x"},
                   "'replacement' can not be set for lowercase action");
    expect_invalid((relabel_spec){.action = "lowercase", .target_label = "1a", .replacement = "x"},
                   "\"1a\" is invalid 'target_label' for lowercase action");
    expect_invalid((relabel_spec){.action = "uppercase", .target_label = "a-b"},
                   "\"a-b\" is invalid 'target_label' for uppercase action");
    expect_invalid((relabel_spec){.action = "dropequal", .target_label = "1a"},
                   "\"1a\" is invalid 'target_label' for dropequal action");
    expect_invalid((relabel_spec){.action = "keepequal", .target_label = "a", .replacement = "x"},
                   "'replacement' can not be set for keepequal action");
    expect_invalid((relabel_spec){.action = "keepequal", .target_label = "a", .regex = "(.*)"},
                   "keepequal action requires only 'source_labels' and `target_label`, and no other fields");
    expect_invalid((relabel_spec){.action = "keepequal", .target_label = "a", .separator = ","},
                   "keepequal action requires only 'source_labels' and `target_label`, and no other fields");
    expect_invalid((relabel_spec){.action = "dropequal", .target_label = "a", MOD(3)},
                   "dropequal action requires only 'source_labels' and `target_label`, and no other fields");
    expect_valid((relabel_spec){.action = "keepequal", .target_label = "a", .separator = ";", .replacement = "$1"});
    expect_invalid((relabel_spec){.action = "labeldrop", SRC("a")},
                   "labeldrop action requires only 'regex', and no other fields");
    expect_invalid((relabel_spec){.action = "labelkeep", .target_label = "a"},
                   "labelkeep action requires only 'regex', and no other fields");
    expect_invalid((relabel_spec){.action = "labelkeep", .regex = "a", MOD(2)},
                   "labelkeep action requires only 'regex', and no other fields");
    expect_invalid((relabel_spec){.action = "labeldrop", .replacement = "x"},
                   "labeldrop action requires only 'regex', and no other fields");
    expect_invalid((relabel_spec){.target_label = "a", SRC("1x")}, "\"1x\" is not a valid label name");
    /* Field order: source_labels, regex, then the action and Validate. */
    expect_invalid((relabel_spec){.action = "x", SRC("1"), .regex = "(a"}, "\"1\" is not a valid label name");
    relabel_rule *r = (relabel_rule *)0x1;
    errbuf err;
    relabel_spec bad = {.action = "x", .regex = "(abc"};
    assert_int_equal(relabel_rule_new(&bad, &r, &err), -1);
    assert_null(r);
    assert_non_null(strstr(err.msg, "error parsing regexp: "));
    assert_non_null(strstr(err.msg, ": `^(?:(abc)$`"));
    /* Accepted by 2.42 though unusual. */
    expect_valid((relabel_spec){.action = "keep", .target_label = "$$", MOD(5)});
    expect_valid((relabel_spec){.action = "lowercase", .target_label = "${1}"});
    expect_valid((relabel_spec){.action = "hashmod", .target_label = "a", MOD(UINT64_MAX)});
    expect_valid((relabel_spec){.target_label = "a${1}$2b"});
}

/* TestTargetLabelValidity, through replace's target_label check. */
static void test_target_label_validity(void **state) {
    (void)state;
    static const struct {
        const char *s;
        int valid;
    } cases[] = {
        {"-label", 0},  {"label", 1},      {"label${1}", 1}, {"${1}label", 1},     {"${1}", 1},
        {"${", 0},      {"$", 0},          {"${}", 0},       {"foo${", 0},         {"$1", 1},
        {"asd$2asd", 1}, {"-foo${1}bar-", 0}, {"_${1}_", 1},  {"foo${bar}foo", 1},  {"$a$b", 1},
        {"${a}${b}c9", 1}, {"a${b", 0},     {"$1-", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        relabel_spec s = {.target_label = cases[i].s};
        relabel_rule *r = NULL;
        errbuf err;
        int rc = relabel_rule_new(&s, &r, &err);
        if ((rc == 0) != cases[i].valid) print_error("target_label %s\n", cases[i].s);
        assert_int_equal(rc == 0, cases[i].valid);
        relabel_rule_free(r);
    }
    /* Long invalid input is rejected quickly (no exponential backtracking). */
    char longs[5000];
    memset(longs, 'a', sizeof longs - 2);
    longs[sizeof longs - 2] = '$';
    longs[sizeof longs - 1] = 0;
    expect_valid((relabel_spec){.action = "labelmap", .replacement = "a"});
    relabel_spec ls = {.action = "labelmap", .replacement = longs};
    relabel_rule *r = NULL;
    errbuf err;
    assert_int_equal(relabel_rule_new(&ls, &r, &err), -1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_replace),
        cmocka_unit_test(test_drop_keep),
        cmocka_unit_test(test_hashmod),
        cmocka_unit_test(test_labelmap),
        cmocka_unit_test(test_target_expansion),
        cmocka_unit_test(test_real_life),
        cmocka_unit_test(test_labelkeep_labeldrop),
        cmocka_unit_test(test_case),
        cmocka_unit_test(test_keepequal_dropequal),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_anchoring),
        cmocka_unit_test(test_expand_edges),
        cmocka_unit_test(test_checked_against_prometheus),
        cmocka_unit_test(test_empty_values_and_builder),
        cmocka_unit_test(test_validate),
        cmocka_unit_test(test_target_label_validity),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
