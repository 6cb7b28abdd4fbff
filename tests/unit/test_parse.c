/*
 * test_parse.c - the PromQL parser (query/parser.y, query/lexer.re) and the
 * AST helpers (query/ast.c).
 *
 * The two big tables were produced against the reference: every query was
 * sent to Prometheus 2.42 (Debian's /usr/bin/prometheus, /api/v1/format_query
 * on 127.0.0.1) and its answer recorded as is: the error message for the
 * malformed ones, the canonical String() text for the valid ones.  Entries
 * where promlite cannot print the same text say so in a comment.
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

#include "query/parser.h"

typedef struct { const char *query, *want; } query_case;

/* Malformed queries and Prometheus 2.42's error for each. */
static const query_case bad_queries[] = {
    {"foo +", "1:6: parse error: unexpected end of input"},
    {"foo~", "1:4: parse error: unexpected character: '~'"},
    {"rate(foo)", "1:6: parse error: expected type range vector in call to function \"rate\", got instant vector"},
    {"foo(bar)", "1:1: parse error: unknown function with name \"foo\""},
    {"{}", "1:1: parse error: vector selector must contain at least one non-empty matcher"},
    {"{a=\"\"}", "1:1: parse error: vector selector must contain at least one non-empty matcher"},
    {"sum(", "1:5: parse error: unclosed left parenthesis"},
    {"(", "1:2: parse error: unclosed left parenthesis"},
    {")", "1:2: parse error: unexpected right parenthesis ')'"},
    {"1 +", "1:4: parse error: unexpected end of input"},
    {"1 == 1", "1:3: parse error: comparisons between scalars must use BOOL modifier"},
    {"foo{a=\"b\"", "1:10: parse error: unexpected end of input inside braces"},
    {"foo{a=\"b\",,}", "1:11: parse error: unexpected \",\" in label matching, expected identifier or \"}\""},
    {"foo{a}", "1:6: parse error: unexpected \"}\" in label matching, expected label matching operator"},
    {"foo{a=}", "1:7: parse error: unexpected \"}\" in label matching, expected string"},
    {"foo{a=b}", "1:7: parse error: unexpected identifier \"b\" in label matching, expected string"},
    {"foo{\"a\"=\"b\"}", "1:5: parse error: unexpected string \"\\\"a\\\"\" in label matching, expected identifier or \"}\""},
    {"foo{a~\"b\"}", "1:6: parse error: unexpected character inside braces: '~'"},
    {"foo{a!\"b\"}", "1:6: parse error: unexpected character after '!' inside braces: '\"'"},
    {"foo{{", "1:5: parse error: unexpected left brace '{'"},
    {"foo}", "1:4: parse error: unexpected character: '}'"},
    {"foo[5m", "1:7: parse error: unclosed left bracket"},
    {"foo[5]", "1:5: parse error: missing unit character in duration"},
    {"foo[5m:1m:1m]", "1:10: parse error: unexpected colon ':'"},
    {"foo[]", "1:5: parse error: missing unit character in duration"},
    {"foo[5m] [5m]", "1:9: parse error: ranges only allowed for vector selectors"},
    {"(foo)[5m]", "1:6: parse error: ranges only allowed for vector selectors"},
    {"rate(foo[5m])[5m]", "1:14: parse error: ranges only allowed for vector selectors"},
    {"1[5m]", "1:2: parse error: ranges only allowed for vector selectors"},
    {"\"x\"[5m:]", "1:1: parse error: subquery is only allowed on instant vector, got string instead"},
    {"foo[5m:]offset", "1:15: parse error: unexpected end of input in offset, expected duration"},
    {"foo offset", "1:11: parse error: unexpected end of input in offset, expected duration"},
    {"foo offset 5", "1:12: parse error: unexpected number \"5\" in offset, expected duration"},
    {"foo @", "1:6: parse error: unexpected end of input in @, expected timestamp"},
    {"foo @ start", "1:12: parse error: unexpected end of input in @, expected timestamp"},
    {"foo @ bar()", "1:7: parse error: unexpected identifier \"bar\" in @, expected timestamp"},
    {"foo @ 1 @ 2", "1:1: parse error: @ <timestamp> may not be set multiple times"},
    {"foo offset 1m offset 2m", "1:1: parse error: offset may not be set multiple times"},
    {"1 offset 5m", "1:1: parse error: offset modifier must be preceded by an instant vector selector or range vector selector or a subquery"},
    {"rate(foo[5m]) offset 5m", "1:1: parse error: offset modifier must be preceded by an instant vector selector or range vector selector or a subquery"},
    {"sum by", "1:7: parse error: unexpected end of input in grouping opts, expected \"(\""},
    {"sum by (", "1:9: parse error: unclosed left parenthesis"},
    {"sum by (a", "1:10: parse error: unclosed left parenthesis"},
    {"sum by (a,,) (x)", "1:11: parse error: unexpected \",\" in grouping opts, expected label"},
    {"sum by (\"a\") (x)", "1:9: parse error: unexpected string \"\\\"a\\\"\" in grouping opts, expected label"},
    {"sum(x) by (a) by (b)", "1:15: parse error: unexpected <by>"},
    {"sum()", "1:1: parse error: no arguments for aggregate expression provided"},
    {"sum(1)", "1:5: parse error: expected type instant vector in aggregation expression, got scalar"},
    {"topk(x)", "1:1: parse error: wrong number of arguments for aggregate expression provided, expected 2, got 1"},
    {"topk(foo, bar)", "1:6: parse error: expected type scalar in aggregation parameter, got instant vector"},
    {"count_values(1, foo)", "1:14: parse error: expected type string in aggregation parameter, got scalar"},
    {"quantile(\"a\", foo)", "1:10: parse error: expected type scalar in aggregation parameter, got string"},
    {"sum(foo, bar)", "1:1: parse error: wrong number of arguments for aggregate expression provided, expected 1, got 2"},
    {"foo and 1", "1:1: parse error: set operator \"and\" not allowed in binary scalar expression"},
    {"1 and foo", "1:1: parse error: set operator \"and\" not allowed in binary scalar expression"},
    {"1 or 2", "1:1: parse error: set operator \"or\" not allowed in binary scalar expression"},
    {"foo + bool bar", "1:5: parse error: bool modifier can only be used on comparison operators"},
    {"1 + on(a) 2", "1:1: parse error: vector matching only allowed between instant vectors"},
    {"foo and on(a) group_left bar", "1:1: parse error: no grouping allowed for \"and\" operation"},
    {"foo + on(a) group_left(a) bar", "1:5: parse error: label \"a\" must not occur in ON and GROUP clause at once"},
    {"-\"a\"", "1:1: parse error: unary expression only allowed on expressions of type scalar or instant vector, got \"string\""},
    {"-foo[5m]", "1:1: parse error: unary expression only allowed on expressions of type scalar or instant vector, got \"range vector\""},
    {"\"a\" + 1", "1:1: parse error: binary expression must contain only scalar and instant vector types"},
    {"foo[5m] + 1", "1:1: parse error: binary expression must contain only scalar and instant vector types"},
    {"time(1)", "1:1: parse error: expected 0 argument(s) in call to \"time\", got 1"},
    {"label_replace(foo)", "1:1: parse error: expected 5 argument(s) in call to \"label_replace\", got 1"},
    {"clamp(foo, 1)", "1:1: parse error: expected 3 argument(s) in call to \"clamp\", got 2"},
    {"round(foo, 1, 2)", "1:1: parse error: expected at most 2 argument(s) in call to \"round\", got 3"},
    {"label_join(foo, \"a\", \",\", 1)", "1:27: parse error: expected type string in call to function \"label_join\", got scalar"},
    {"histogram_quantile(foo, bar)", "1:20: parse error: expected type scalar in call to function \"histogram_quantile\", got instant vector"},
    {"absent(foo[5m])", "1:8: parse error: expected type instant vector in call to function \"absent\", got range vector"},
    {"vector(foo)", "1:8: parse error: expected type scalar in call to function \"vector\", got instant vector"},
    {"foo{__name__=\"bar\"}", "1:1: parse error: metric name must not be set twice: \"foo\" or \"bar\""},
    {"foo{__name__=~\"b\"}", "1:1: parse error: metric name must not be set twice: \"foo\" or \"b\""},
    {"foo{a=~\"(\"}", "1:5: parse error: error parsing regexp: missing closing parenthesis: `^(?:()$`"}, /* Prometheus: Go regexp wording "missing closing ): ..." */
    {"'\\q'", "1:1: parse error: unknown escape sequence U+0071 'q'"},
    {"\"\\xZZ\"", "1:1: parse error: illegal character U+005A 'Z' in escape sequence"},
    {"\"abc", "1:1: parse error: unterminated quoted string"},
    {"`abc", "1:1: parse error: unterminated raw string"},
    {"\"\\u12\"", "1:1: parse error: illegal character U+0022 '\"' in escape sequence"},
    {"\"\\uD800\"", "1:1: parse error: escape sequence is an invalid Unicode code point"},
    {"0x", "1:1: parse error: error parsing number: strconv.ParseFloat: parsing \"0x\": invalid syntax"},
    {"1e", "1:1: parse error: error parsing number: strconv.ParseFloat: parsing \"1e\": invalid syntax"},
    {"1.2.3", "1:4: parse error: unexpected number \".3\""},
    {"5mfoo", "1:1: parse error: bad number or duration syntax: \"5mf\""},
    {"foo[5x]", "1:5: parse error: bad duration syntax: \"5\""},
    {"foo[1h1h]", "1:5: parse error: not a valid duration string: \"1h1h\""},
    {"foo[30m1h]", "1:5: parse error: not a valid duration string: \"30m1h\""},
    {"foo[0s]", "1:5: parse error: duration must be greater than 0"},
    {"foo offset -5x", "1:13: parse error: bad number or duration syntax: \"5\""},
    {"sum without(a) (x) without(b)", "1:20: parse error: unexpected <without>"},
    {"sum(x) by (a, b", "1:16: parse error: unclosed left parenthesis"},
    {"avg(foo by (a))", "1:9: parse error: unexpected <by> in aggregation"},
    {"foo !~ bar", "1:5: parse error: unexpected character after '!': '~'"},
    {"foo =~ bar", "1:5: parse error: unexpected character after '=': '~'"},
    {"foo = bar", "1:5: parse error: unexpected \"=\""},
    {"1 2", "1:3: parse error: unexpected number \"2\""},
    {"foo bar", "1:5: parse error: unexpected identifier \"bar\""},
    {"foo 5m", "1:5: parse error: unexpected duration \"5m\""},
    {"foo)", "1:5: parse error: unexpected right parenthesis ')'"},
    {"foo]", "1:4: parse error: unexpected right bracket ']'"},
    {"foo[5m]]", "1:8: parse error: unexpected right bracket ']'"},
    {"@ 5", "1:1: parse error: unexpected \"<Item 57385>\" <op:@>"}, /* sic: a goyacc token number */
    {"# just a comment", "1:1: parse error: no expression found in input"},
    {"foo @ end() @ start()", "1:1: parse error: @ <timestamp> may not be set multiple times"},
    {"foo ! bar", "1:5: parse error: unexpected character after '!': ' '"},
    {"sum(foo) without", "1:17: parse error: unexpected end of input in grouping opts, expected \"(\""},
    {"rate(foo[5m]", "1:13: parse error: unclosed left parenthesis"},
    {"rate(foo[5m],)", "1:13: parse error: trailing commas not allowed in function call args"},
    {"rate(,)", "1:6: parse error: unexpected \",\""},
    {"holt_winters(foo[5m], 0.5)", "1:1: parse error: expected 3 argument(s) in call to \"holt_winters\", got 2"},
    {"sort(foo[5m])", "1:6: parse error: expected type instant vector in call to function \"sort\", got range vector"},
    {"absent_over_time(foo)", "1:18: parse error: expected type range vector in call to function \"absent_over_time\", got instant vector"},
    {"abs()", "1:1: parse error: expected 1 argument(s) in call to \"abs\", got 0"},
    {"day_of_month(foo, bar)", "1:1: parse error: expected at most 1 argument(s) in call to \"day_of_month\", got 2"},
    {"label_replace(foo, \"a\", \"b\", \"c\")", "1:1: parse error: expected 5 argument(s) in call to \"label_replace\", got 4"},
    {"predict_linear(foo[5m])", "1:1: parse error: expected 2 argument(s) in call to \"predict_linear\", got 1"},
    {"foo{a=\"\\x\"}", "1:7: parse error: illegal character U+0022 '\"' in escape sequence"},
    {"foo{a='b'", "1:10: parse error: unexpected end of input inside braces"},
    {"foo{a=`b}", "1:7: parse error: unterminated raw string"},
    {"1:5", "1:2: parse error: unexpected metric identifier \":5\""},
    {"[5m]", "1:1: parse error: unexpected \"[\""},
    {"foo[5m:1m", "1:10: parse error: unclosed left bracket"},
    {"foo[-5m]", "1:5: parse error: missing unit character in duration"},
    {"foo[5m:-1m]", "1:8: parse error: unexpected <op:-> in subquery selector, expected duration or \"]\""},
    {"foo @ -", "1:8: parse error: unexpected end of input in @, expected timestamp"},
    {"foo @ Inf", "1:1: parse error: timestamp out of bounds for @ modifier: +Inf"},
    {"foo @ NaN", "1:1: parse error: timestamp out of bounds for @ modifier: NaN"},
    {"1 < 2", "1:3: parse error: comparisons between scalars must use BOOL modifier"},
    {"sum(foo) by (a) (b)", "1:17: parse error: unexpected \"(\""},
    {"topk(1, foo, bar)", "1:1: parse error: wrong number of arguments for aggregate expression provided, expected 2, got 3"},
    {"count_values(\"v\")", "1:1: parse error: wrong number of arguments for aggregate expression provided, expected 2, got 1"},
    {"foo{a=\"b\"}{c=\"d\"}", "1:11: parse error: unexpected \"{\""},
    {"max_over_time(foo[5m:1m] offset 1m [5m])", "1:36: parse error: ranges only allowed for vector selectors"},
    {"((foo))[5m]", "1:8: parse error: ranges only allowed for vector selectors"},
    {"foo[5m:1m x]", "1:11: parse error: unexpected colon 'x'"},
    {"foo[5m:1]", "1:8: parse error: unexpected number \"1\" in subquery selector, expected duration or \"]\""},
    {"foo[1.5m]", "1:5: parse error: not a valid duration string: \"1.5m\""},
    {"1e999", "1:1: parse error: error parsing number: strconv.ParseFloat: parsing \"1e999\": value out of range"},
    {"0xFFFFFFFFFFFFFFFFFF", "1:1: parse error: error parsing number: strconv.ParseFloat: parsing \"0xFFFFFFFFFFFFFFFFFF\": invalid syntax"},
    {"foo @ 1e999", "1:7: parse error: error parsing number: strconv.ParseFloat: parsing \"1e999\": value out of range"},
    {"foo offset 0s", "1:12: parse error: duration must be greater than 0"},
    {"foo[5m:0s]", "1:8: parse error: duration must be greater than 0"},
    {"foo offset 5m [5m]", "1:15: parse error: no offset modifiers allowed before range"},
    {"foo @ 5 [5m]", "1:9: parse error: no @ modifiers allowed before range"},
    {"foo[5m][5m:]", "1:1: parse error: subquery is only allowed on instant vector, got matrix instead"},
    {"sum(foo) by (a:b)", "1:14: parse error: unexpected metric identifier \"a:b\" in grouping opts, expected label"},
    {"foo and on(a) group_left(b) bar", "1:1: parse error: no grouping allowed for \"and\" operation"},
    {"foo[5m] offset 5m offset 1m", "1:1: parse error: offset may not be set multiple times"},
    {"foo !", "1:5: parse error: unexpected character after '!': '\357\277\275'"},
    {"foo @ start(1)", "1:13: parse error: unexpected number \"1\" in @, expected timestamp"},
    {"foo @ start)", "1:13: parse error: unexpected right parenthesis ')'"},
    {"\"abcdefghijklmnop\" foo", "1:20: parse error: unexpected identifier \"foo\""},
    {"foo \"abcdefghijklmnop\"", "1:5: parse error: unexpected string \"\\\"abcdefghi\"..."},
    {"foo{a=\"b\" c=\"d\"}", "1:11: parse error: unexpected identifier \"c\" in label matching, expected \",\" or \"}\""},
    {"sum by (a b) (x)", "1:11: parse error: unexpected identifier \"b\" in grouping opts, expected \",\" or \")\""},
    {"foo[5m:1m] @ 1 @ 2", "1:1: parse error: @ <timestamp> may not be set multiple times"},
    {"(foo) @ 5", "1:1: parse error: @ modifier must be preceded by an instant vector selector or range vector selector or a subquery"},
    {"1 @ 5", "1:1: parse error: @ modifier must be preceded by an instant vector selector or range vector selector or a subquery"},
    {"1_000", "1:1: parse error: bad number or duration syntax: \"1\""},
    {"0b1", "1:1: parse error: bad number or duration syntax: \"0\""},
    {"# line comment", "1:1: parse error: no expression found in input"},
    {"\"\\'\"", "1:1: parse error: unknown escape sequence U+0027 '''"},
    {"RATE(foo[5m])", "1:1: parse error: unknown function with name \"RATE\""},
    {"foo[5M]", "1:5: parse error: bad duration syntax: \"5\""},
    {"foo[1H]", "1:5: parse error: bad duration syntax: \"1\""},
    {"foo[5m:1m:]", "1:10: parse error: unexpected colon ':'"},
    /* multi-line queries: line and column */
    {"foo +\n  bar{", "2:7: parse error: unexpected end of input inside braces"},
    {"sum(\n  rate(foo[5m])\n) by (a\n", "4:1: parse error: unclosed left parenthesis"},
    {"foo\n  and 1", "1:1: parse error: set operator \"and\" not allowed in binary scalar expression"},
    {"1\n==\n1", "2:1: parse error: comparisons between scalars must use BOOL modifier"},
    {"rate(\n\tfoo)", "2:2: parse error: expected type range vector in call to function \"rate\", got instant vector"},
    /* a NUL byte is an ordinary unexpected character */
    {"foo\001", "1:4: parse error: unexpected character: '\\x01'"},
    {"", "1:1: parse error: no expression found in input"},
};

/* Valid queries and Prometheus 2.42's canonical text of each. */
static const query_case good_queries[] = {
    {"foo + on(a) group_left(b) bar + 1 < bool 2 > 3", "foo + on (a) group_left (b) bar + 1 < bool 2 > 3"},
    {"foo:bar{}", "foo:bar"},
    {"foo # comment", "foo"},
    {"foo{a=\"b\"} # c", "foo{a=\"b\"}"},
    {"foo offset - 5m", "foo offset -5m"},
    {"foo and on(a) bar", "foo and on (a) bar"},
    {"foo < bool 1", "foo < bool 1"},
    {"(foo offset 5m)[5m:]", "(foo offset 5m)[5m:]"},
    {"foo[5m x]", "foo[5m:]"},
    {"99999999999999999999", "1e+20"},
    {"foo[8d]", "foo[8d]"},
    {"foo[14d]", "foo[2w]"},
    {"foo[400d]", "foo[400d]"},
    {"foo{b=\"1\",a=\"2\"}", "foo{a=\"2\",b=\"1\"}"},
    {"{__name__=\"foo\",a=\"b\"}", "{__name__=\"foo\",a=\"b\"}"},
    {"foo{a=\"\\n\\x01\303\251\"}", "foo{a=\"\\n\\x01\303\251\"}"},
    {"\"\\x80\"", "\"\\x80\""},
    {"foo{a=\"b\"} == bool on(a) group_right(c) bar", "foo{a=\"b\"} == bool on (a) group_right (c) bar"},
    {"rate(foo[5m:1m] offset 1m)", "rate(foo[5m:1m] offset 1m)"},
    {"topk(1, foo) by (a)", "topk by (a) (1, foo)"},
    {"1", "1"},
    {"-1", "-1"},
    {"+1", "1"},
    {"- 1", "-1"},
    {"1.5e3", "1500"},
    {"0x1F", "31"},
    {"0X1f", "31"},
    {".5", "0.5"},
    {"5.", "5"},
    {"1e-7", "1e-07"},
    {"1e6", "1e+06"},
    {"123456", "123456"},
    {"017", "15"},
    {"08", "8"},
    {"Inf", "+Inf"},
    {"-inf", "-Inf"},
    {"NaN", "NaN"},
    {"nAn", "NaN"},
    {"\"foo\"", "\"foo\""},
    {"'foo'", "\"foo\""},
    {"`foo\\n`", "\"foo\\\\n\""},
    {"\"a\\tb\\\"c\"", "\"a\\tb\\\"c\""},
    {"'\\x41\\101\\u00e9\\U0001F600'", "\"AA\303\251\360\237\230\200\""},
    {"\"\303\251\"", "\"\303\251\""},
    {"foo", "foo"},
    {"foo:bar:baz", "foo:bar:baz"},
    {"sum", "sum"},
    {"by", "by"},
    {"and", "and"},
    {"offset", "offset"},
    {"foo{a=\"b\"}", "foo{a=\"b\"}"},
    {"foo{a=\"b\",}", "foo{a=\"b\"}"},
    {"foo{a!=\"b\", c=~\"d.*\", e!~\"f\"}", "foo{a!=\"b\",c=~\"d.*\",e!~\"f\"}"},
    {"{__name__=~\"x.*\"}", "{__name__=~\"x.*\"}"},
    {"{__name__=\"foo\"}", "{__name__=\"foo\"}"},
    {"foo{and=\"x\", by=\"y\", offset=\"z\", sum=\"q\"}", "foo{and=\"x\",by=\"y\",offset=\"z\",sum=\"q\"}"},
    {"foo[5m]", "foo[5m]"},
    {"foo[1h30m]", "foo[1h30m]"},
    {"foo[1d]", "foo[1d]"},
    {"foo[1w]", "foo[1w]"},
    {"foo[1y]", "foo[1y]"},
    {"foo[500ms]", "foo[500ms]"},
    {"foo[90s]", "foo[1m30s]"},
    {"foo[1m30s500ms]", "foo[1m30s500ms]"},
    {"foo offset 5m", "foo offset 5m"},
    {"foo offset -5m", "foo offset -5m"},
    {"foo[5m] offset 1w", "foo[5m] offset 1w"},
    {"foo @ 1609746000", "foo @ 1609746000.000"},
    {"foo @ 1609746000.5", "foo @ 1609746000.500"},
    {"foo @ -100", "foo @ -100.000"},
    {"foo @ start()", "foo @ start()"},
    {"foo @ end()", "foo @ end()"},
    {"foo offset 5m @ 100", "foo @ 100.000 offset 5m"},
    {"foo @ 100 offset 5m", "foo @ 100.000 offset 5m"},
    {"foo[5m] @ end() offset 1m", "foo[5m] @ end() offset 1m"},
    {"foo[30m:1m]", "foo[30m:1m]"},
    {"foo[30m:]", "foo[30m:]"},
    {"foo[30m:] offset 1m", "foo[30m:] offset 1m"},
    {"foo[30m:1m] @ 5 offset 10s", "foo[30m:1m] @ 5.000 offset 10s"},
    {"rate(foo[5m])[30m:1m]", "rate(foo[5m])[30m:1m]"},
    {"(foo + bar)[5m:]", "(foo + bar)[5m:]"},
    {"sum(x) by (a)", "sum by (a) (x)"},
    {"sum by (a) (x)", "sum by (a) (x)"},
    {"sum without () (x)", "sum without () (x)"},
    {"sum without (a, b) (x)", "sum without (a, b) (x)"},
    {"sum by (a,) (x)", "sum by (a) (x)"},
    {"sum(x)", "sum(x)"},
    {"avg(x) without (a)", "avg without (a) (x)"},
    {"count(x)", "count(x)"},
    {"min(x)", "min(x)"},
    {"max(x)", "max(x)"},
    {"group(x)", "group(x)"},
    {"stddev(x)", "stddev(x)"},
    {"stdvar(x)", "stdvar(x)"},
    {"topk(5, x)", "topk(5, x)"},
    {"bottomk by (a) (5, x)", "bottomk by (a) (5, x)"},
    {"quantile(0.9, x)", "quantile(0.9, x)"},
    {"count_values(\"value\", x)", "count_values(\"value\", x)"},
    {"count_values without (a) (\"v\", x)", "count_values without (a) (\"v\", x)"},
    {"sum by (on, by, offset, bool, group_left) (x)", "sum by (on, by, offset, bool, group_left) (x)"},
    {"a + b", "a + b"},
    {"a - b * c", "a - b * c"},
    {"a * b + c", "a * b + c"},
    {"a ^ b ^ c", "a ^ b ^ c"},
    {"(a ^ b) ^ c", "(a ^ b) ^ c"},
    {"a / b % c", "a / b % c"},
    {"a atan2 b", "a atan2 b"},
    {"a == b", "a == b"},
    {"a != bool b", "a != bool b"},
    {"a > b", "a > b"},
    {"a < b", "a < b"},
    {"a >= b", "a >= b"},
    {"a <= b", "a <= b"},
    {"a and b", "a and b"},
    {"a unless b", "a unless b"},
    {"a or b", "a or b"},
    {"a or b and c", "a or b and c"},
    {"a and b or c", "a and b or c"},
    {"a + on (x) group_left (y) b", "a + on (x) group_left (y) b"},
    {"a + on(x) group_left b", "a + on (x) group_left () b"},
    {"a * ignoring(x) group_right(y, z) b", "a * ignoring (x) group_right (y, z) b"},
    {"a == on() b", "a == on () b"},
    {"a + ignoring () b", "a + b"},
    {"a and on (x) b", "a and on (x) b"},
    {"a or ignoring (x) b", "a or ignoring (x) b"},
    {"1 == bool 1", "1 == bool 1"},
    {"1 + 2", "1 + 2"},
    {"-foo", "-foo"},
    {"-(1)", "-(1)"},
    {"- -1", "1"},
    {"-foo ^ 2", "-foo ^ 2"},
    {"-2 ^ 2", "-2 ^ 2"},
    {"2 ^ -1", "2 ^ -1"},
    {"foo + -bar", "foo + -bar"},
    {"((foo))", "((foo))"},
    {"(1)", "(1)"},
    {"rate(foo[5m])", "rate(foo[5m])"},
    {"irate(foo[5m])", "irate(foo[5m])"},
    {"time()", "time()"},
    {"vector(1)", "vector(1)"},
    {"scalar(foo)", "scalar(foo)"},
    {"label_replace(foo, \"a\", \"$1\", \"b\", \"(.*)\")", "label_replace(foo, \"a\", \"$1\", \"b\", \"(.*)\")"},
    {"label_join(foo, \"a\", \",\", \"b\", \"c\", \"d\")", "label_join(foo, \"a\", \",\", \"b\", \"c\", \"d\")"},
    {"label_join(foo, \"a\", \",\")", "label_join(foo, \"a\", \",\")"},
    {"round(foo)", "round(foo)"},
    {"round(foo, 5)", "round(foo, 5)"},
    {"clamp(foo, 0, 1)", "clamp(foo, 0, 1)"},
    {"histogram_quantile(0.9, rate(foo[5m]))", "histogram_quantile(0.9, rate(foo[5m]))"},
    {"holt_winters(foo[5m], 0.5, 0.5)", "holt_winters(foo[5m], 0.5, 0.5)"},
    {"quantile_over_time(0.5, foo[5m])", "quantile_over_time(0.5, foo[5m])"},
    {"absent(nonexistent{job=\"x\"})", "absent(nonexistent{job=\"x\"})"},
    {"day_of_week()", "day_of_week()"},
    {"day_of_week(foo)", "day_of_week(foo)"},
    {"year()", "year()"},
    {"sort_desc(foo)", "sort_desc(foo)"},
    {"pi()", "pi()"},
    {"deg(foo)", "deg(foo)"},
    {"sgn(foo)", "sgn(foo)"},
    {"predict_linear(foo[5m], 3600)", "predict_linear(foo[5m], 3600)"},
    {"max_over_time(rate(foo[5m])[1h:5m])", "max_over_time(rate(foo[5m])[1h:5m])"},
    {"+ bar", "bar"}, /* Prometheus: "+bar" (promlite drops unary plus, see ast.h) */
    {"sum(rate(foo[5m])) by (job) / on(job) group_left sum(bar) by (job)", "sum by (job) (rate(foo[5m])) / on (job) group_left () sum by (job) (bar)"},
    {"foo{a=\"b\"} offset 5m @ start()", "foo{a=\"b\"} @ start() offset 5m"},
    {"\"a\\\\b\"", "\"a\\\\b\""},
    {"'\\''", "\"'\""},
    {"1 < bool 2", "1 < bool 2"},
    {"foo > bool 1", "foo > bool 1"},
    {"max by (a) (foo) > bool 1", "max by (a) (foo) > bool 1"},
    {"a + b offset 5m", "a + b offset 5m"},
    {"-foo offset 5m", "-foo offset 5m"},
    {"sum(foo) by (a) * 2", "sum by (a) (foo) * 2"},
    {"foo and ON(a) bar", "foo and on (a) bar"},
    {"SUM(foo) BY (a)", "sum by (a) (foo)"},
    {"foo OFFSET 5m", "foo offset 5m"},
    {"1 + 2 * 3", "1 + 2 * 3"},
    {"(1 + 2) * 3", "(1 + 2) * 3"},
    {"1 - 2 - 3", "1 - 2 - 3"},
    {"1 - (2 - 3)", "1 - (2 - 3)"},
    {"2 ^ 3 ^ 2", "2 ^ 3 ^ 2"},
    {"a or b or c", "a or b or c"},
    {"foo\n# comment\n+ bar # more", "foo + bar"},
    {"sum(\n  rate(foo{job=\"x\"}[5m])\n) by (job)", "sum by (job) (rate(foo{job=\"x\"}[5m]))"},
};

static char *format_tree(const pq_node *n) {
    buf b = {0};
    pq_format(n, &b);
    buf_append(&b, "", 1);
    return (char *)b.data;
}

static void test_bad_queries(void **state) {
    (void)state;
    size_t failures = 0;
    for (size_t i = 0; i < sizeof bad_queries / sizeof bad_queries[0]; i++) {
        const query_case *c = &bad_queries[i];
        pq_arena *a = pq_arena_new();
        errbuf err = {{0}};
        pq_node *n = pq_parse(a, c->query, strlen(c->query), &err);
        if (n || strcmp(err.msg, c->want) != 0) {
            char *got = n ? format_tree(n) : NULL;
            print_error("query %s\n  want: %s\n  got:  %s\n", c->query, c->want, n ? got : err.msg);
            free(got);
            failures++;
        }
        pq_arena_free(a);
    }
    assert_int_equal(failures, 0);
    assert_true(sizeof bad_queries / sizeof bad_queries[0] >= 60);
}

static void test_good_queries(void **state) {
    (void)state;
    size_t failures = 0;
    for (size_t i = 0; i < sizeof good_queries / sizeof good_queries[0]; i++) {
        const query_case *c = &good_queries[i];
        pq_arena *a = pq_arena_new();
        errbuf err = {{0}};
        pq_node *n = pq_parse(a, c->query, strlen(c->query), &err);
        if (!n) {
            print_error("query %s\n  want: %s\n  got error: %s\n", c->query, c->want, err.msg);
            failures++;
            pq_arena_free(a);
            continue;
        }
        char *got = format_tree(n);
        if (strcmp(got, c->want) != 0) {
            print_error("query %s\n  want: %s\n  got:  %s\n", c->query, c->want, got);
            failures++;
        }
        /* the canonical text parses back to the same text */
        pq_node *again = pq_parse(a, got, strlen(got), &err);
        char *got2 = again ? format_tree(again) : NULL;
        if (!again || strcmp(got2, got) != 0) {
            print_error("re-parse of %s gave %s\n", got, again ? got2 : err.msg);
            failures++;
        }
        free(got);
        free(got2);
        pq_arena_free(a);
    }
    assert_int_equal(failures, 0);
    assert_true(sizeof good_queries / sizeof good_queries[0] >= 80);
}

/* Parses a query that must be valid; the tree lives in *a. */
static pq_node *parse_ok(pq_arena **a, const char *q) {
    *a = pq_arena_new();
    errbuf err = {{0}};
    pq_node *n = pq_parse(*a, q, strlen(q), &err);
    if (!n) print_error("%s: %s\n", q, err.msg);
    assert_non_null(n);
    return n;
}

static void test_tree_shapes(void **state) {
    (void)state;
    pq_arena *a;

    /* precedence: + below *, ^ right-associative, - left-associative */
    pq_node *n = parse_ok(&a, "a + b * c ^ d ^ e");
    assert_int_equal(n->kind, PQ_BINARY);
    assert_int_equal(n->u.binary.op, PQ_OP_ADD);
    assert_int_equal(n->type, PQ_TYPE_VECTOR);
    pq_node *mul = n->u.binary.rhs;
    assert_int_equal(mul->u.binary.op, PQ_OP_MUL);
    pq_node *pow = mul->u.binary.rhs;
    assert_int_equal(pow->u.binary.op, PQ_OP_POW);
    assert_int_equal(pow->u.binary.rhs->kind, PQ_BINARY);             /* d ^ e */
    assert_string_equal(pow->u.binary.lhs->u.sel.name, "c");
    assert_int_equal(pow->pos.start, 8);
    assert_int_equal(pow->pos.end, 17);
    pq_arena_free(a);

    n = parse_ok(&a, "1 - 2 - 3");
    assert_int_equal(n->type, PQ_TYPE_SCALAR);
    assert_int_equal(n->u.binary.lhs->kind, PQ_BINARY);               /* (1 - 2) - 3 */
    assert_true(n->u.binary.rhs->u.number == 3);
    pq_arena_free(a);

    n = parse_ok(&a, "a or b and c unless d");
    assert_int_equal(n->u.binary.op, PQ_OP_OR);
    assert_int_equal(n->u.binary.rhs->u.binary.op, PQ_OP_UNLESS);
    assert_int_equal(n->u.binary.rhs->u.binary.lhs->u.binary.op, PQ_OP_AND);
    assert_int_equal(n->u.binary.matching.card, PQ_CARD_MANY_TO_MANY);
    pq_arena_free(a);

    /* unary minus binds below ^ and folds into numbers */
    n = parse_ok(&a, "-2 ^ 2");
    assert_int_equal(n->kind, PQ_UNARY);
    assert_int_equal(n->type, PQ_TYPE_SCALAR);
    assert_int_equal(n->u.unary.expr->u.binary.op, PQ_OP_POW);
    pq_arena_free(a);
    n = parse_ok(&a, " -5");
    assert_int_equal(n->kind, PQ_NUMBER);
    assert_true(n->u.number == -5);
    assert_int_equal(n->pos.start, 1);
    assert_int_equal(n->pos.end, 3);
    pq_arena_free(a);

    /* selectors: the name matcher comes last, modifiers are stored */
    n = parse_ok(&a, "foo{a=~\"x.*\", b!=\"y\"}[5m] @ 100.5 offset -1h");
    assert_int_equal(n->kind, PQ_SELECTOR);
    assert_int_equal(n->type, PQ_TYPE_MATRIX);
    assert_string_equal(n->u.sel.name, "foo");
    assert_int_equal(n->u.sel.nmatchers, 3);
    assert_int_equal(n->u.sel.matchers[0].op, MATCH_RE);
    assert_true(matcher_matches(&n->u.sel.matchers[0], "xyz", 3));
    assert_false(matcher_matches(&n->u.sel.matchers[0], "axyz", 4));  /* anchored */
    assert_int_equal(n->u.sel.matchers[1].op, MATCH_NEQ);
    assert_string_equal(n->u.sel.matchers[2].name, "__name__");
    assert_string_equal(n->u.sel.matchers[2].value, "foo");
    assert_int_equal(n->u.sel.range_ms, 300000);
    assert_int_equal(n->u.sel.offset_ms, -3600000);
    assert_int_equal(n->u.sel.has_at, 1);
    assert_int_equal(n->u.sel.at_kind, 0);
    assert_int_equal(n->u.sel.at_ms, 100500);
    assert_int_equal(n->pos.start, 0);
    assert_int_equal(n->pos.end, 44);
    pq_arena_free(a);

    /* subquery, aggregation, call */
    n = parse_ok(&a, "topk by (job) (3, max_over_time(rate(x[1m])[10m:30s] @ end()))");
    assert_int_equal(n->kind, PQ_AGGREGATE);
    assert_int_equal(n->u.agg.op, PQ_AGG_TOPK);
    assert_int_equal(n->u.agg.has_grouping, 1);
    assert_int_equal(n->u.agg.without, 0);
    assert_int_equal(n->u.agg.grouping.n, 1);
    assert_string_equal(n->u.agg.grouping.names[0], "job");
    assert_int_equal(n->u.agg.param->kind, PQ_NUMBER);
    assert_int_equal(n->u.agg.param->type, PQ_TYPE_SCALAR);
    assert_string_equal(n->u.agg.expr->u.call.func->name, "max_over_time");
    pq_node *sq = n->u.agg.expr->u.call.args[0];
    assert_int_equal(sq->kind, PQ_SUBQUERY);
    assert_int_equal(sq->type, PQ_TYPE_MATRIX);
    assert_int_equal(sq->u.subquery.range_ms, 600000);
    assert_int_equal(sq->u.subquery.step_ms, 30000);
    assert_int_equal(sq->u.subquery.at_kind, 2);
    pq_node *call = sq->u.subquery.expr;
    assert_int_equal(call->kind, PQ_CALL);
    assert_string_equal(call->u.call.func->name, "rate");
    assert_int_equal(call->type, PQ_TYPE_VECTOR);
    assert_int_equal(call->u.call.args[0]->type, PQ_TYPE_MATRIX);
    assert_int_equal(call->pos.start, 32);
    assert_int_equal(call->pos.end, 43);
    pq_arena_free(a);

    /* vector matching */
    n = parse_ok(&a, "a / ignoring(x) group_right(y, z) b");
    assert_int_equal(n->u.binary.matching.card, PQ_CARD_ONE_TO_MANY);
    assert_int_equal(n->u.binary.matching.has_matching, 1);
    assert_int_equal(n->u.binary.matching.on, 0);
    assert_string_equal(n->u.binary.matching.matching.names[0], "x");
    assert_int_equal(n->u.binary.matching.include.n, 2);
    pq_arena_free(a);
    n = parse_ok(&a, "a > bool 1");
    assert_int_equal(n->u.binary.return_bool, 1);
    assert_int_equal(n->type, PQ_TYPE_VECTOR);
    pq_arena_free(a);
    n = parse_ok(&a, "(\"s\")");
    assert_int_equal(n->kind, PQ_PAREN);
    assert_int_equal(n->type, PQ_TYPE_STRING);
    pq_arena_free(a);

    /* the explain dump: one line per node, indented */
    n = parse_ok(&a, "sum(rate(x[5m])) > bool 1");
    buf b = {0};
    pq_explain(n, &b);
    buf_append(&b, "", 1);
    assert_string_equal((char *)b.data,
                        "BINARY > bool one-to-one <instant vector> [0,25)\n"
                        "  AGGREGATE sum <instant vector> [0,16)\n"
                        "    CALL rate <instant vector> [4,15)\n"
                        "      SELECTOR x range=5m <range vector> [9,14)\n"
                        "  NUMBER 1 <scalar> [24,25)\n");
    buf_free(&b);
    pq_arena_free(a);
}

static double number_of(const char *q) {
    pq_arena *a;
    pq_node *n = parse_ok(&a, q);
    assert_int_equal(n->kind, PQ_NUMBER);
    double v = n->u.number;
    pq_arena_free(a);
    return v;
}

static void test_literals(void **state) {
    (void)state;
    assert_true(number_of("0x1F") == 31);
    assert_true(number_of("017") == 15);                 /* Go: leading 0 is octal */
    assert_true(number_of("08") == 8);                   /* ... unless it is not */
    assert_true(number_of("1.5e3") == 1500);
    assert_true(number_of(".5") == 0.5);
    assert_true(number_of("5.") == 5);
    assert_true(number_of("1e-7") == 1e-7);
    assert_true(number_of("9223372036854775807") == 9223372036854775807.0);
    assert_true(number_of("99999999999999999999") == 1e20);
    assert_true(isinf(number_of("Inf")) && number_of("Inf") > 0);
    assert_true(isinf(number_of("-INF")) && number_of("-INF") < 0);
    assert_true(isnan(number_of("nan")));
    assert_true(number_of("- - 3") == 3);

    /* strings: Go escapes, raw strings, bytes kept as decoded */
    static const struct { const char *q; const char *want; size_t len; } strings[] = {
        {"\"a\\tb\\\"c\"", "a\tb\"c", 5},
        {"'\\x41\\101\\u00e9\\U0001F600'", "AA\xc3\xa9\xf0\x9f\x98\x80", 8},
        {"`raw\\n`", "raw\\n", 5},
        {"'it\\'s'", "it's", 4},
        {"\"\\a\\b\\f\\n\\r\\v\\\\\"", "\a\b\f\n\r\v\\", 7},
        {"\"\\000x\"", "\0x", 2},
        {"\"\\xff\"", "\xff", 1},
        {"\"\"", "", 0},
    };
    for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++) {
        pq_arena *a;
        pq_node *n = parse_ok(&a, strings[i].q);
        assert_int_equal(n->kind, PQ_STRING);
        assert_int_equal(n->type, PQ_TYPE_STRING);
        assert_int_equal(n->u.string.len, strings[i].len);
        assert_memory_equal(n->u.string.s, strings[i].want, strings[i].len);
        assert_int_equal(n->u.string.s[strings[i].len], 0);
        pq_arena_free(a);
    }

    /* durations */
    static const struct { const char *q; int64_t ms; const char *text; } durations[] = {
        {"x[1h30m]", 5400000, "x[1h30m]"},
        {"x[90s]", 90000, "x[1m30s]"},
        {"x[500ms]", 500, "x[500ms]"},
        {"x[1y]", 365LL * 86400000, "x[1y]"},
        {"x[14d]", 14LL * 86400000, "x[2w]"},
        {"x[8d]", 8LL * 86400000, "x[8d]"},
        {"x[1w2d]", 9LL * 86400000, "x[9d]"},
        {"x[1m30s500ms]", 90500, "x[1m30s500ms]"},
    };
    for (size_t i = 0; i < sizeof durations / sizeof durations[0]; i++) {
        pq_arena *a;
        pq_node *n = parse_ok(&a, durations[i].q);
        assert_int_equal(n->u.sel.range_ms, durations[i].ms);
        char *t = format_tree(n);
        assert_string_equal(t, durations[i].text);
        free(t);
        pq_arena_free(a);
    }
}

/* The function table: sorted, ids are indexes, lookups work on lengths. */
static void test_function_table(void **state) {
    (void)state;
    assert_int_equal(pq_nfunctions, 67);
    for (size_t i = 0; i < pq_nfunctions; i++) {
        assert_int_equal(pq_functions[i].id, (int)i);
        if (i) assert_true(strcmp(pq_functions[i - 1].name, pq_functions[i].name) < 0);
        assert_ptr_equal(pq_func_lookup(pq_functions[i].name, strlen(pq_functions[i].name)), &pq_functions[i]);
    }
    assert_null(pq_func_lookup("rat", 3));
    assert_null(pq_func_lookup("rates", 5));
    assert_non_null(pq_func_lookup("rate(foo)", 4));
    const pq_func *f = pq_func_lookup("label_replace", 13);
    assert_int_equal(f->nargs, 5);
    assert_int_equal(f->args[4], PQ_TYPE_STRING);
    f = pq_func_lookup("label_join", 10);
    assert_int_equal(f->variadic, -1);
    f = pq_func_lookup("round", 5);
    assert_int_equal(f->variadic, 1);
    assert_int_equal(pq_func_lookup("time", 4)->ret, PQ_TYPE_SCALAR);
    assert_string_equal(pq_type_name(PQ_TYPE_MATRIX), "range vector");
    assert_string_equal(pq_binop_name(PQ_OP_ATAN2), "atan2");
    assert_string_equal(pq_aggop_name(PQ_AGG_COUNT_VALUES), "count_values");
}

/* Input need not be NUL-terminated: parse a prefix of a longer buffer. */
static void test_lengths(void **state) {
    (void)state;
    const char text[] = "rate(foo[5m])garbage";
    pq_arena *a = pq_arena_new();
    errbuf err;
    pq_node *n = pq_parse(a, text, 13, &err);
    assert_non_null(n);
    char *t = format_tree(n);
    assert_string_equal(t, "rate(foo[5m])");
    free(t);
    assert_null(pq_parse(a, text, 12, &err));
    assert_string_equal(err.msg, "1:13: parse error: unclosed left parenthesis");
    /* deep nesting is fine */
    buf deep = {0};
    for (int i = 0; i < 500; i++) buf_append(&deep, "(", 1);
    buf_append(&deep, "1", 1);
    for (int i = 0; i < 500; i++) buf_append(&deep, ")", 1);
    assert_non_null(pq_parse(a, (char *)deep.data, deep.len, &err));
    buf_free(&deep);
    pq_arena_free(a);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_queries),
        cmocka_unit_test(test_good_queries),
        cmocka_unit_test(test_tree_shapes),
        cmocka_unit_test(test_literals),
        cmocka_unit_test(test_function_table),
        cmocka_unit_test(test_lengths),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
