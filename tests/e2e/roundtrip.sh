#!/bin/sh
# roundtrip.sh - import -> dump -> import into a new folder -> dump gives the
# same samples bit for bit, NaN payloads (staleness marker), infinities and
# negative zero included; stats report what was imported.
. "$SRCDIR/tests/e2e/lib.sh"

sh "$SRCDIR/examples/sample-data.sh" > "$WORK/sample.om"
samples=$(grep -vc '^#' "$WORK/sample.om")
expect_exit 0 "import OpenMetrics" "$PROMLITE" import --storage.tsdb.path "$WORK/a" "$WORK/sample.om"
expect_grep "^imported .*\\(openmetrics\\): 24 series, $samples samples" "$WORK/out" "import reports series and samples"
expect_grep "^rejected samples: 0 out of order, 0 duplicate timestamp" "$WORK/out" "import reports rejections"

# Special values in the text format with millisecond timestamps.
cat > "$WORK/special.prom" <<'EOT'
# TYPE special gauge
special{kind="stale"} 1 1000
special{kind="stale"} NaN:0x7ff0000000000002 16000
special{kind="stale"} 3 31000
special{kind="nan"} NaN 1000
special{kind="nan"} NaN:0xfff8000000000123 2000
special{kind="inf"} +Inf 1000
special{kind="inf"} -Inf 2000
special{kind="zero"} -0 1000
special{kind="zero"} 0 2000
special{kind="tiny"} 4.9406564584124654e-324 1000
special{kind="tiny"} 1.7976931348623157e+308 2000
special{kind="tiny"} 0.1 3000
special{kind="ooo"} 5 5000
special{kind="ooo"} 4 4000
special{kind="ooo"} 6 5000
EOT
expect_exit 0 "import text with special values" "$PROMLITE" import --storage.tsdb.path "$WORK/a" "$WORK/special.prom"
expect_grep "rejected samples: 1 out of order, 1 duplicate timestamp" "$WORK/out" "out-of-order and duplicate are counted"
expect_exit 0 "dump" "$PROMLITE" tsdb dump --storage.tsdb.path "$WORK/a"
cp "$WORK/out" "$WORK/dump1"
expect_grep '^special\{kind="stale"\} NaN:0x7ff0000000000002 16000$' "$WORK/dump1" "staleness marker dumped exactly"
expect_grep '^special\{kind="nan"\} NaN 1000$' "$WORK/dump1" "NaN dumped"
expect_grep '^special\{kind="nan"\} NaN:0xfff8000000000123 2000$' "$WORK/dump1" "NaN payload dumped"
expect_grep '^special\{kind="inf"\} -Inf 2000$' "$WORK/dump1" "-Inf dumped"
expect_grep '^special\{kind="zero"\} -0 1000$' "$WORK/dump1" "negative zero dumped"
expect_grep '^special\{kind="tiny"\} 5e-324 1000$' "$WORK/dump1" "denormal dumped exactly"
lines=$(grep -vc '^#' "$WORK/dump1")
check "dump has every sample ($lines = $samples + 13)" [ "$lines" -eq $((samples + 13)) ]
expect_exit 0 "re-import the dump" "$PROMLITE" import --storage.tsdb.path "$WORK/b" "$WORK/dump1"
expect_grep "\\(text\\)" "$WORK/out" "the dump is recognised as text format"
expect_exit 0 "dump again" "$PROMLITE" tsdb dump --storage.tsdb.path "$WORK/b"
check "round trip is bit-exact" cmp -s "$WORK/dump1" "$WORK/out"

# Filters.
expect_exit 0 "dump --match" "$PROMLITE" tsdb dump --storage.tsdb.path "$WORK/b" --match 'node_load1{instance="host-1:9100"}'
check "--match selects one series" [ "$(grep -vc '^#' "$WORK/out")" -eq 240 ]
expect_exit 0 "dump --min-time/--max-time" "$PROMLITE" tsdb dump --storage.tsdb.path "$WORK/b" --match 'special' --min-time 2000 --max-time 3000
check "time filters apply" [ "$(grep -vc '^#' "$WORK/out")" -eq 5 ]

# Stats.
expect_exit 0 "stats" "$PROMLITE" tsdb stats --storage.tsdb.path "$WORK/b"
expect_grep "^Series: +30$" "$WORK/out" "stats counts series"
expect_grep "^Samples: +$((samples + 13))$" "$WORK/out" "stats counts samples"
expect_grep "^Bytes per sample: +[0-9]" "$WORK/out" "stats prints bytes per sample"
expect_grep "^ +18  node_cpu_seconds_total$" "$WORK/out" "top metric names"
expect_grep "^ +6  kind$" "$WORK/out" "top label names by values"

# Stdin import.
expect_exit 0 "import from stdin" sh -c "'$PROMLITE' import --storage.tsdb.path '$WORK/c' - < '$WORK/sample.om'"
expect_grep "\\(openmetrics\\): 24 series" "$WORK/out" "stdin OpenMetrics"
finish
