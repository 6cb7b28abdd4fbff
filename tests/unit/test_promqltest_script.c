/*
 * test_promqltest_script.c - the conformance-script reader: value-list
 * expansion, series descriptors, command blocks, the harness's float
 * tolerance, malformed scripts, and every shared conformance file read
 * with the case counts its README lists.
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

#include "query/promqltest_script.h"

static long expand(const char *s, pt_entry *out, size_t cap) {
    errbuf err;
    long n = pt_expand_values(s, strlen(s), out, cap, &err);
    if (n < 0) print_message("expand \"%s\": %s\n", s, err.msg);
    return n;
}

static void test_expand_values(void **state) {
    (void)state;
    pt_entry e[64];
    assert_int_equal(expand("0+10x3", e, 64), 4);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(e[i].kind, PT_VALUE);
        assert_true(e[i].v == 10.0 * i);
    }
    assert_int_equal(expand("-5+1x2 7", e, 64), 4);
    assert_true(e[0].v == -5 && e[1].v == -4 && e[2].v == -3 && e[3].v == 7);
    assert_int_equal(expand("10-2x2", e, 64), 3);
    assert_true(e[2].v == 6);
    assert_int_equal(expand("3x2", e, 64), 3);
    assert_true(e[0].v == 3 && e[2].v == 3);
    assert_int_equal(expand("1 _ stale _x3 .5 +4 1e3", e, 64), 9);
    assert_int_equal(e[1].kind, PT_OMITTED);
    assert_int_equal(e[2].kind, PT_STALE);
    for (int i = 3; i < 6; i++) assert_int_equal(e[i].kind, PT_OMITTED);
    assert_true(e[6].v == 0.5 && e[7].v == 4 && e[8].v == 1000);
    assert_int_equal(expand("Inf -inf NaN +Inf nan", e, 64), 5);
    assert_true(isinf(e[0].v) && e[0].v > 0 && isinf(e[1].v) && e[1].v < 0 && isnan(e[2].v));
    assert_true(isinf(e[3].v) && isnan(e[4].v));
    /* Steps are added repeatedly, as the Go harness does. */
    assert_int_equal(expand("0+0.1x3", e, 64), 4);
    assert_true(e[3].v == 0.1 + 0.1 + 0.1);
    /* x is the repeat operator, never a hexadecimal prefix. */
    assert_int_equal(expand("0x2", e, 64), 3);
    assert_true(e[0].v == 0 && e[2].v == 0);
    errbuf err;
    assert_int_equal(pt_expand_values("1+x3", 4, e, 64, &err), -1);
    assert_int_equal(pt_expand_values("abc", 3, e, 64, &err), -1);
    assert_non_null(strstr(err.msg, "invalid value"));
    assert_int_equal(pt_expand_values("1x", 2, e, 64, &err), -1);
    assert_int_equal(pt_expand_values("1x3", 3, e, 2, &err), -1);
}

static void test_almost_equal(void **state) {
    (void)state;
    assert_true(pt_almost_equal(NAN, NAN));
    assert_true(pt_almost_equal(INFINITY, INFINITY));
    assert_false(pt_almost_equal(INFINITY, -INFINITY));
    assert_true(pt_almost_equal(0.0, -0.0));
    assert_true(pt_almost_equal(1.0, 1.0 + 1e-7));
    assert_false(pt_almost_equal(1.0, 1.00001));
    assert_false(pt_almost_equal(0.0, 1e-300));
    assert_false(pt_almost_equal(NAN, 1));
    assert_true(pt_almost_equal(1e300, 1e300 * (1 + 1e-7)));
}

static const char *label_value(const pt_series *s, const char *name) {
    for (size_t i = 0; i < s->nlabels; i++)
        if (s->labels[i].name_len == strlen(name) && !memcmp(s->labels[i].name, name, s->labels[i].name_len))
            return s->labels[i].value;
    return NULL;
}

static void test_parse_script(void **state) {
    (void)state;
    const char *text =
        "# a comment\n"
        "load 5m\n"
        "  http_requests{job=\"api\", instance=\"0\"} 0+10x2\n"
        "\t{__name__=\"other\", l='a\\\"b'} 1 _ stale\n"
        "\n"
        "eval instant at 10m sum(http_requests)\n"
        "  {} 20\n"
        "\n"
        "eval_ordered instant at 0 sort(x)\n"
        "\n"
        "eval instant at 1h30m 1 + 1\n"
        "  2\n"
        "eval_fail instant at 0s foo[5m] + 1\n"
        "\n"
        "clear\n"
        "load 1m\n"
        "  m 1 2\n"
        "\n"
        "eval range from 0 to 2m step 1m m\n"
        "  m 1 2 _\n";
    pt_script sc;
    errbuf err;
    if (pt_script_parse("t.test", text, strlen(text), &sc, &err)) fail_msg("%s", err.msg);
    assert_int_equal(sc.ncmds, 8);
    pt_cmd *c = &sc.cmds[0];
    assert_int_equal(c->kind, PT_LOAD);
    assert_int_equal(c->line, 2);
    assert_int_equal(c->interval_ms, 300000);
    assert_int_equal(c->nseries, 2);
    assert_string_equal(label_value(&c->series[0], "__name__"), "http_requests");
    assert_string_equal(label_value(&c->series[0], "instance"), "0");
    assert_int_equal(c->series[0].nentries, 3);
    assert_true(c->series[0].entries[2].v == 20);
    assert_string_equal(label_value(&c->series[1], "__name__"), "other");
    assert_string_equal(label_value(&c->series[1], "l"), "a\"b");
    assert_int_equal(c->series[1].entries[2].kind, PT_STALE);
    c = &sc.cmds[1];
    assert_int_equal(c->kind, PT_EVAL);
    assert_int_equal(c->at_ms, 600000);
    assert_string_equal(c->expr, "sum(http_requests)");
    assert_int_equal(c->nseries, 1);
    assert_int_equal(c->series[0].nlabels, 0);
    c = &sc.cmds[2];
    assert_true(c->ordered && !c->expect_fail && c->nseries == 0);
    c = &sc.cmds[3];
    assert_int_equal(c->at_ms, 5400000);
    assert_true(c->expect_scalar && c->scalar == 2);
    /* A bare number ends its block: eval_fail follows directly. */
    c = &sc.cmds[4];
    assert_true(c->expect_fail);
    assert_string_equal(c->expr, "foo[5m] + 1");
    assert_int_equal(sc.cmds[5].kind, PT_CLEAR);
    c = &sc.cmds[7];
    assert_true(c->range);
    assert_int_equal(c->start_ms, 0);
    assert_int_equal(c->end_ms, 120000);
    assert_int_equal(c->step_ms, 60000);
    assert_int_equal(c->series[0].nentries, 3);
    assert_int_equal(c->series[0].entries[2].kind, PT_OMITTED);
    pt_script_free(&sc);
}

static void expect_error(const char *text, const char *want) {
    pt_script sc;
    errbuf err;
    if (pt_script_parse("bad.test", text, strlen(text), &sc, &err) == 0) {
        pt_script_free(&sc);
        fail_msg("accepted: %s", text);
    }
    if (!strstr(err.msg, want)) fail_msg("for %s: got \"%s\", want \"%s\"", text, err.msg, want);
}

static void test_malformed(void **state) {
    (void)state;
    expect_error("lode 5m\n", "bad.test:1: invalid command \"lode\"");
    expect_error("load\n", "bad.test:1: \"load\" needs one positive interval");
    expect_error("load 5x\n", "\"load\" needs one positive interval");
    expect_error("load 5m\n  m 1 2\n  m{a=\"b\" 1\n", "bad.test:3: expected ',' or '}'");
    expect_error("load 5m\n  m{a=b} 1\n", "bad.test:2: expected a quoted value for label a");
    expect_error("load 5m\n  m{a=\"b\",a=\"c\"} 1\n", "label a is given twice");
    expect_error("load 5m\n  m 1 zz\n", "bad.test:2: invalid value \"zz\"");
    expect_error("eval instant 5m x\n", "expected \"at\" after \"instant\"");
    expect_error("eval instant at five x\n", "invalid time \"five\"");
    expect_error("eval instant at 5m\n", "the eval has no expression");
    expect_error("eval instant at 5m x\n  x 1 2\n", "bad.test:2: an instant expectation takes exactly one value");
    expect_error("eval range from 2m to 1m step 1m x\n", "the end of the range is before its start");
    expect_error("eval range from 0 to 1m step 1m x\n  x 1 2 3\n", "3 values for a range of 2 steps");
    expect_error("eval_ordered range from 0 to 1m step 1m x\n", "not supported for range queries");
    expect_error("eval sometimes at 0 x\n", "expected \"instant\" or \"range\"");
    expect_error("clear now\n", "\"clear\" takes no arguments");
}

/* Every shared conformance file reads, with the counts its README gives:
 * 460 eval cases (4 eval_fail, 11 eval_ordered, 6 range) and 84 loads. */
static void test_shared_files(void **state) {
    (void)state;
    const char *files[] = {"aggregators", "at_modifier", "collision", "functions", "histograms", "literals",
                           "operators", "range_queries", "selectors", "staleness", "subquery", "trig_functions"};
    const char *src = getenv("SRCDIR");
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/../shared/promql-tests", src ? src : ".");
    size_t evals = 0, fails = 0, ordered = 0, ranges = 0, loads = 0;
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char p[4200];
        snprintf(p, sizeof p, "%s/%s.test", dir, files[i]);
        pt_script sc;
        errbuf err;
        if (pt_script_read(p, &sc, &err)) fail_msg("%s (the conformance files belong at %s)", err.msg, dir);
        for (size_t k = 0; k < sc.ncmds; k++) {
            pt_cmd *c = &sc.cmds[k];
            if (c->kind == PT_LOAD) loads++;
            if (c->kind != PT_EVAL) continue;
            evals++;
            fails += c->expect_fail;
            ordered += c->ordered;
            ranges += c->range;
        }
        pt_script_free(&sc);
    }
    assert_int_equal(evals, 460);
    assert_int_equal(fails, 4);
    assert_int_equal(ordered, 11);
    assert_int_equal(ranges, 6);
    assert_int_equal(loads, 84);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_expand_values), cmocka_unit_test(test_almost_equal),
        cmocka_unit_test(test_parse_script), cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_shared_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
