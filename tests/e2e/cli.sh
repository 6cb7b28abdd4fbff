#!/bin/sh
# cli.sh - the command-line frame: help, version, flag errors, exit codes.
. "$SRCDIR/tests/e2e/lib.sh"

expect_exit 0 "version prints" "$PROMLITE" version
expect_grep '^promlite, version [0-9]' "$WORK/out" "version line"
expect_exit 0 "--version works" "$PROMLITE" --version
expect_exit 0 "help lists commands" "$PROMLITE" help
expect_grep 'import' "$WORK/out" "help mentions import"
expect_grep 'tsdb' "$WORK/out" "help mentions tsdb"
expect_exit 2 "no command is a usage error" "$PROMLITE"
expect_exit 2 "unknown command" "$PROMLITE" frobnicate
expect_grep 'unknown command "frobnicate"' "$WORK/err" "unknown command is named"
for c in "import" "tsdb stats" "tsdb dump" "version"; do
  # shellcheck disable=SC2086
  expect_exit 0 "$c --help" "$PROMLITE" $c --help
  expect_grep '^usage: promlite' "$WORK/out" "$c --help shows usage"
done
expect_exit 0 "help import" "$PROMLITE" help import
expect_grep 'storage.tsdb.path' "$WORK/out" "import help lists --storage.tsdb.path"
expect_exit 0 "help tsdb dump" "$PROMLITE" help tsdb dump
expect_grep 'min-time' "$WORK/out" "dump help lists --min-time"
expect_exit 2 "unknown flag" "$PROMLITE" tsdb stats --bogus
expect_grep 'unknown flag --bogus' "$WORK/err" "unknown flag is named"
expect_exit 2 "bad retention duration" "$PROMLITE" import --storage.tsdb.retention.time=15x f
expect_grep 'invalid duration "15x" for --storage.tsdb.retention.time' "$WORK/err" "bad duration is explained"
expect_exit 2 "bad retention size" "$PROMLITE" tsdb stats --storage.tsdb.retention.size 12parsecs
expect_grep 'invalid size' "$WORK/err" "bad size is explained"
expect_exit 2 "bad --format" "$PROMLITE" import --format=csv f
expect_grep 'one of: auto\|openmetrics\|text' "$WORK/err" "bad choice lists the choices"
expect_exit 2 "import without a file" "$PROMLITE" import
expect_exit 2 "bad --match" "$PROMLITE" tsdb dump --storage.tsdb.path "$WORK/d" --match 'up{a=}'
expect_grep 'invalid --match' "$WORK/err" "bad selector is explained"
expect_exit 1 "missing input file" "$PROMLITE" import --storage.tsdb.path "$WORK/d" "$WORK/nope.om"
expect_grep "cannot open .*nope.om" "$WORK/err" "missing file is named"

# A syntax error names FILE:LINE:COL; what came before stays stored.
printf '# TYPE a gauge\na 1 1000\na{x="1} 2 2000\n' > "$WORK/bad.prom"
expect_exit 1 "syntax error fails the import" "$PROMLITE" import --format=text --storage.tsdb.path "$WORK/d" "$WORK/bad.prom"
expect_grep 'bad.prom:3:[0-9]+: ' "$WORK/err" "syntax error names file:line:col"

# A second process cannot open a folder in use.
mkfifo "$WORK/fifo"
"$PROMLITE" import --format=text --storage.tsdb.path "$WORK/busy" "$WORK/fifo" > /dev/null 2>&1 &
pid=$!
exec 3> "$WORK/fifo"
sleep 0.5
expect_exit 1 "a busy data folder is refused" "$PROMLITE" tsdb stats --storage.tsdb.path "$WORK/busy"
expect_grep 'in use by another promlite process' "$WORK/err" "busy folder is explained"
exec 3>&-
wait $pid
finish
