#!/bin/sh
# query.sh - `promlite query` end to end: instant and range queries over an
# imported folder in text and JSON (the "data" of /api/v1/query), parse
# errors with their position, --explain and --pretty, bad flag use.
. "$SRCDIR/tests/e2e/lib.sh"
# Two counters and a gauge, every 15 s from t=1700000000 s for 10 minutes.
awk 'BEGIN { for (i = 0; i <= 40; i++) { t = (1700000000 + i * 15) * 1000
  printf "req_total{code=\"200\",job=\"api\"} %d %.0f\n", i * 30, t
  printf "req_total{code=\"500\",job=\"api\"} %d %.0f\n", i * 3, t
  printf "temp_celsius{room=\"a b\"} %.1f %.0f\n", 20 + (i % 4) / 2, t } }' > "$WORK/data.prom"
expect_exit 0 "import the fixture" "$PROMLITE" import --quiet --format=text --storage.tsdb.path "$WORK/d" "$WORK/data.prom"
q() { "$PROMLITE" query --storage.tsdb.path "$WORK/d" "$@"; }

expect_exit 0 "instant query" q --time 1700000600 'sum by (job) (rate(req_total[5m]))'
expect_grep '^\{job="api"\} => 2\.2 @\[1700000600\]$' "$WORK/out" "rate summed by job is 2.2/s"
expect_exit 0 "instant query as JSON" q --time 1700000600 --format json 'sum by (job) (rate(req_total[5m]))'
expect_grep '^\{"resultType":"vector","result":\[\{"metric":\{"job":"api"\},"value":\[1700000600,"2\.2"\]\}\]\}$' \
  "$WORK/out" "JSON has Prometheus's shape and number formatting"
expect_exit 0 "scalar as JSON" q --time 1700000000.5 --format json '1 + 1'
expect_grep '^\{"resultType":"scalar","result":\[1700000000\.5,"2"\]\}$' "$WORK/out" "a scalar with a fractional time"
expect_exit 0 "string as JSON" q --time 4 --format json '"a\"b"'
expect_grep '^\{"resultType":"string","result":\[4,"a\\"b"\]\}$' "$WORK/out" "a string result, escaped"
expect_exit 0 "range query" q --start 1700000000 --end 1700000060 --step 30s --format json 'req_total{code="500"}'
expect_grep '"values":\[\[1700000000,"0"\],\[1700000030,"6"\],\[1700000060,"12"\]\]' "$WORK/out" "range query gives a matrix"
expect_exit 0 "a range vector at an instant" q --time 1700000030 --format json 'temp_celsius[20s]'
expect_grep '"resultType":"matrix".*"room":"a b".*"values":\[\[1700000015,"20\.5"\],\[1700000030,"21"\]\]' "$WORK/out" \
  "x[20s] gives the samples of [t-20s, t]"
expect_exit 0 "lookback ends 5m after the last sample" q --time 1700001000 'temp_celsius'
check "nothing is returned past the lookback" [ ! -s "$WORK/out" ]
expect_exit 0 "a shorter lookback" q --time 1700000620 --query.lookback-delta 10s 'temp_celsius'
check "a 10s lookback misses a sample 20s old" [ ! -s "$WORK/out" ]
expect_exit 0 "topk keeps the metric name" q --time 1700000600 'topk(1, req_total)'
expect_grep '^req_total\{code="200",job="api"\} => 1200 @' "$WORK/out" "topk answer"
expect_exit 1 "an evaluation error fails" q --time 1700000600 'label_replace(req_total, "dst", "x", "code", "(")'
expect_grep 'invalid regular expression' "$WORK/err" "the error says why"

expect_exit 1 "a parse error fails with exit 1" q 'sum(rate(req_total[5m])'
expect_grep '^promlite query: 1:24: parse error: unclosed left parenthesis$' "$WORK/err" "the error has Prometheus's position and text"
expect_exit 1 "a type error is a parse error" q 'rate(req_total)'
expect_grep 'expected type range vector in call to function "rate", got instant vector' "$WORK/err" "type errors are caught before evaluation"

expect_exit 0 "--pretty prints the canonical form" q --pretty 'sum(rate(req_total{job="api"}[300s])) by (code)'
expect_grep '^sum by \(code\) \(rate\(req_total\{job="api"\}\[5m\]\)\)$' "$WORK/out" "canonical form"
pretty=$(cat "$WORK/out")
expect_exit 0 "the canonical form parses again" q --pretty "$pretty"
check "and prints the same" [ "$(cat "$WORK/out")" = "$pretty" ]
expect_exit 0 "--explain prints the tree" q --explain 'a + on (x) b * 2'
expect_grep '^BINARY \+ one-to-one on \(x\)' "$WORK/out" "the tree shows the binary node with its matching"

expect_exit 2 "a range query needs all three flags" q --start 1700000000 --end 1700000060 'req_total'
expect_grep 'needs --start, --end and --step' "$WORK/err" "missing flag is named"
expect_exit 2 "an expression is required" q
expect_exit 2 "a bad step" q --start 1 --end 2 --step 5x up
expect_grep 'invalid duration "5x" for --step' "$WORK/err" "bad step is named"
expect_exit 0 "query --help" "$PROMLITE" query --help
expect_grep 'query.lookback-delta' "$WORK/out" "help lists the lookback flag"
finish
