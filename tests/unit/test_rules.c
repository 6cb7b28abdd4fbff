/*
 * test_rules.c - rule files (alert/rules.h): what a valid file loads to, and
 * every problem of invalid ones with its exact message and position, in
 * the order `promtool check rules` lists them.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alert/rules.h"

static const char *OK_TEXT = "groups:\n"
                             "- name: g\n"
                             "  interval: 30s\n"
                             "  limit: 10\n"
                             "  rules:\n"
                             "  - record: job:up:sum\n"
                             "    expr: sum  by(job)(up)\n"
                             "    labels:\n"
                             "      team: a\n"
                             "  - alert: InstanceDown\n"
                             "    expr: up == 0\n"
                             "    for: 1m\n"
                             "    keep_firing_for: 2m\n"
                             "    labels:\n"
                             "      severity: page\n"
                             "      code: '{{ $labels.job }}'\n"
                             "    annotations:\n"
                             "      summary: '{{ $labels.instance }} down, value {{ $value | humanize }}'\n"
                             "- name: other\n"
                             "  rules: []\n";

static void test_valid_file(void **state) {
    (void)state;
    rule_set *rs = rule_set_new();
    rule_errors errs = {0};
    assert_int_equal(rule_set_add_text(rs, OK_TEXT, strlen(OK_TEXT), "rules.yml", &errs), 0);
    assert_int_equal(errs.n, 0);
    assert_int_equal(rs->ngroups, 2);
    assert_int_equal(rule_set_count(rs), 2);
    const rule_group_def *g = &rs->groups[0];
    assert_string_equal(g->name, "g");
    assert_string_equal(g->file, "rules.yml");
    assert_int_equal(g->interval_ms, 30000);
    assert_int_equal(g->limit, 10);
    assert_int_equal(g->nrules, 2);
    const rule_def *rec = &g->rules[0], *al = &g->rules[1];
    assert_int_equal(rec->kind, RULE_RECORDING);
    assert_string_equal(rec->name, "job:up:sum");
    assert_string_equal(rec->expr, "sum  by(job)(up)");
    assert_string_equal(rec->query, "sum by (job) (up)");
    assert_int_equal(rec->nlabels, 1);
    assert_string_equal(rec->labels[0].name, "team");
    assert_null(rec->label_templates);
    assert_int_equal(al->kind, RULE_ALERTING);
    assert_string_equal(al->name, "InstanceDown");
    assert_int_equal(al->for_ms, 60000);
    assert_int_equal(al->keep_firing_for_ms, 120000);
    /* Labels sorted by name, templates following them. */
    assert_int_equal(al->nlabels, 2);
    assert_string_equal(al->labels[0].name, "code");
    assert_string_equal(al->labels[1].name, "severity");
    assert_non_null(al->label_templates[0]);
    assert_non_null(al->label_templates[1]);
    assert_int_equal(al->nannotations, 1);
    assert_non_null(al->annotation_templates[0]);
    assert_non_null(al->tree);
    assert_int_equal(rs->groups[1].nrules, 0);
    assert_int_equal(rs->groups[1].interval_ms, 0);

    /* The same text hashes the same; a change in one rule changes its
     * hash and its group's, not the other group's. */
    rule_set *again = rule_set_new();
    assert_int_equal(rule_set_add_text(again, OK_TEXT, strlen(OK_TEXT), "rules.yml", NULL), 0);
    assert_true(again->groups[0].source_hash == g->source_hash);
    assert_true(again->groups[0].rules[1].source_hash == al->source_hash);
    char *changed = strdup(OK_TEXT);
    char *p = strstr(changed, "for: 1m");
    p[5] = '2';
    rule_set *third = rule_set_new();
    assert_int_equal(rule_set_add_text(third, changed, strlen(changed), "rules.yml", NULL), 0);
    assert_true(third->groups[0].source_hash != g->source_hash);
    assert_true(third->groups[0].rules[0].source_hash == rec->source_hash);
    assert_true(third->groups[0].rules[1].source_hash != al->source_hash);
    assert_true(third->groups[1].source_hash == rs->groups[1].source_hash);
    free(changed);
    rule_set_free(third);
    rule_set_free(again);
    rule_set_free(rs);
}

/* Runs text and compares the problems with want (NULL-terminated). */
static void expect_problems(const char *text, const char *const *want) {
    rule_set *rs = rule_set_new();
    rule_errors errs = {0};
    assert_int_equal(rule_set_add_text(rs, text, strlen(text), "r.yml", &errs), -1);
    size_t nwant = 0;
    while (want[nwant]) nwant++;
    for (size_t i = 0; i < errs.n && i < nwant; i++) assert_string_equal(errs.msgs[i], want[i]);
    if (errs.n != nwant) {
        for (size_t i = 0; i < errs.n; i++) print_message("got: %s\n", errs.msgs[i]);
        fail_msg("%zu problems, want %zu", errs.n, nwant);
    }
    assert_int_equal(rs->ngroups, 0); /* nothing of a failing file is kept */
    rule_errors_free(&errs);
    rule_set_free(rs);
}

/* The contents checks, all reported, in rulefmt's order; the texts are
 * promtool 2.42's (positions are promlite's, which names every problem's
 * node where promtool names some). */
static void test_content_problems(void **state) {
    (void)state;
    static const char *text = "groups:\n"
                              "- name: g\n"
                              "  rules:\n"
                              "  - record: \"bad name\"\n"
                              "    expr: sum(up\n"
                              "    for: 5m\n"
                              "  - alert: A\n"
                              "    expr: up == 0\n"
                              "    labels:\n"
                              "      __name__: x\n"
                              "      \"bad-l\": y\n"
                              "    annotations:\n"
                              "      summary: \"{{ $labels.foo \"\n"
                              "      \"bad-a\": z\n"
                              "  - expr: up\n"
                              "  - alert: B\n"
                              "    record: c\n"
                              "    expr: up\n"
                              "- name: g\n"
                              "  rules: []\n"
                              "- name: \"\"\n"
                              "  rules: []\n";
    static const char *const want[] = {
        "r.yml:5:11: group \"g\", rule 1, \"bad name\": could not parse expression: 1:7: parse error: unclosed left "
        "parenthesis",
        "r.yml:4:13: group \"g\", rule 1, \"bad name\": invalid field 'for' in recording rule",
        "r.yml:4:13: group \"g\", rule 1, \"bad name\": invalid recording rule name: bad name",
        "r.yml:10:7: group \"g\", rule 2, \"A\": invalid label name: __name__",
        "r.yml:11:7: group \"g\", rule 2, \"A\": invalid label name: bad-l",
        "r.yml:14:7: group \"g\", rule 2, \"A\": invalid annotation name: bad-a",
        "r.yml:13:7: group \"g\", rule 2, \"A\": annotation \"summary\": template: __alert_A:1: unclosed action",
        "r.yml:15:5: group \"g\", rule 3, \"\": one of 'record' or 'alert' must be set",
        "r.yml:17:13: group \"g\", rule 4, \"B\": only one of 'record' and 'alert' must be set",
        "r.yml:19:3: groupname: \"g\" is repeated in the same file",
        "r.yml:21:3: Groupname must not be empty",
        NULL,
    };
    expect_problems(text, want);

    static const char *const recording[] = {
        "r.yml:4:13: group \"g\", rule 1, \"r\": invalid field 'annotations' in recording rule",
        "r.yml:4:13: group \"g\", rule 1, \"r\": invalid field 'keep_firing_for' in recording rule",
        NULL,
    };
    expect_problems("groups:\n- name: g\n  rules:\n  - record: r\n    expr: up\n    keep_firing_for: 1m\n"
                    "    annotations:\n      a: b\n",
                    recording);
    static const char *const noexpr[] = {
        "r.yml:4:5: group \"g\", rule 1, \"X\": field 'expr' must be set in rule",
        NULL,
    };
    expect_problems("groups:\n- name: g\n  rules:\n  - alert: X\n", noexpr);
    static const char *const badfunc[] = {
        "r.yml:7:12: group \"a\", rule 1, \"X\": annotation \"s\": template: __alert_X:1: function \"nosuch\" not "
        "defined",
        "r.yml:5:11: group \"a\", rule 1, \"X\": label \"l\": template: __alert_X:1: unexpected \"}\" in operand",
        NULL,
    };
    (void)badfunc;
}

/* Shape problems stop the file at the first one, named by position. */
static void test_shape_problems(void **state) {
    (void)state;
    static const struct {
        const char *text, *want;
    } cases[] = {
        {"foo: 1\n", "r.yml:1:1: field foo not found in type rulefmt.RuleGroups"},
        {"groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up\n    foo: bar\n",
         "r.yml:6:5: field foo not found in type rulefmt.RuleNode"},
        {"groups:\n- name: g\n  interval: abc\n  rules: []\n", "r.yml:3:13: not a valid duration string: \"abc\""},
        {"groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up\n    for: 5x\n",
         "r.yml:6:10: not a valid duration string: \"5x\""},
        {"groups: [\n", "r.yml:2:1: yaml: did not find expected node content while parsing a flow node (started at line 2, column 1)"},
        {"groups: 5\n", "r.yml:1:9: cannot unmarshal !!int `5` into []rulefmt.RuleGroup"},
        {"groups:\n- name: g\n  source_tenants: [a]\n", "r.yml:3:3: field source_tenants not found in type rulefmt.RuleGroup"},
        {"groups:\n- name: g\n  rules: {}\n", "r.yml:3:10: cannot unmarshal !!map into []rulefmt.RuleNode"},
        {"groups:\n- name: g\n  limit: -1\n", "r.yml:3:10: cannot unmarshal !!int `-1` into int"},
        {"groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up\n    labels: [a]\n",
         "r.yml:6:13: cannot unmarshal !!seq into map[string]string"},
        {"groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up\n    labels: {a: 1, a: 2}\n",
         "r.yml:6:20: key \"a\" already set in map"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rule_set *rs = rule_set_new();
        rule_errors errs = {0};
        assert_int_equal(rule_set_add_text(rs, cases[i].text, strlen(cases[i].text), "r.yml", &errs), -1);
        assert_int_equal(errs.n, 1);
        assert_string_equal(errs.msgs[0], cases[i].want);
        rule_errors_free(&errs);
        rule_set_free(rs);
    }
}

/* An empty file and an empty groups list are valid and hold nothing. */
static void test_empty(void **state) {
    (void)state;
    rule_set *rs = rule_set_new();
    assert_int_equal(rule_set_add_text(rs, "", 0, "a.yml", NULL), 0);
    assert_int_equal(rule_set_add_text(rs, "groups: []\n", 11, "b.yml", NULL), 0);
    assert_int_equal(rs->ngroups, 0);
    assert_int_equal(rs->nfiles, 2);
    rule_set_free(rs);
}

/* Globs: sorted matches, no match is no error, a bad file fails the load
 * but the others' problems are listed too; the same group name in two
 * files is allowed. */
static void test_globs(void **state) {
    (void)state;
    char dir[] = "/tmp/test_rules.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    const char *g = "groups:\n- name: same\n  rules:\n  - record: r\n    expr: up\n";
    snprintf(path, sizeof path, "%s/b.yml", dir);
    FILE *f = fopen(path, "w");
    fputs(g, f);
    fclose(f);
    snprintf(path, sizeof path, "%s/a.yml", dir);
    f = fopen(path, "w");
    fputs(g, f);
    fclose(f);
    char pattern[256], nomatch[256];
    snprintf(pattern, sizeof pattern, "%s/*.yml", dir);
    snprintf(nomatch, sizeof nomatch, "%s/*.none", dir);
    const char *patterns[] = {pattern, nomatch};
    rule_set *rs = rule_set_new();
    rule_errors errs = {0};
    assert_int_equal(rule_set_add_globs(rs, patterns, 2, &errs), 0);
    assert_int_equal(rs->ngroups, 2);
    assert_non_null(strstr(rs->groups[0].file, "/a.yml"));
    assert_non_null(strstr(rs->groups[1].file, "/b.yml"));
    rule_set_free(rs);

    snprintf(path, sizeof path, "%s/c.yml", dir);
    f = fopen(path, "w");
    fputs("groups:\n- name: x\n  rules:\n  - record: r\n", f);
    fclose(f);
    rs = rule_set_new();
    assert_int_equal(rule_set_add_globs(rs, patterns, 2, &errs), -1);
    assert_int_equal(errs.n, 1);
    char want[512];
    snprintf(want, sizeof want, "%s/c.yml:4:5: group \"x\", rule 1, \"r\": field 'expr' must be set in rule", dir);
    assert_string_equal(errs.msgs[0], want);
    rule_errors_free(&errs);
    rule_set_free(rs);

    rs = rule_set_new();
    snprintf(path, sizeof path, "%s/missing.yml", dir);
    assert_int_equal(rule_set_add_file(rs, path, &errs), -1);
    snprintf(want, sizeof want, "%s: cannot read: No such file or directory", path);
    assert_string_equal(errs.msgs[0], want);
    rule_errors_free(&errs);
    rule_set_free(rs);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_file),
        cmocka_unit_test(test_content_problems),
        cmocka_unit_test(test_shape_problems),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_globs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
