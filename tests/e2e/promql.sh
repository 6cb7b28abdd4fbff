#!/bin/sh
# promql.sh - PromQL conformance: Prometheus's own test scripts
# (../shared/promql-tests/*.test) and the project's (tests/promql/*.test),
# run by `promlite promqltest` through the real storage and query engines.
#
# Cases listed in tests/promql/known_failures.txt are reported as skipped;
# any other failure, and a listed case that passes, fails this test.  The
# last line is promqltest's own "N passed, N failed[, N skipped]".
set -u
: "${PROMLITE:?PROMLITE must name the promlite binary}"
shared="$SRCDIR/../shared/promql-tests"
if [ ! -d "$shared" ]; then
  echo "not ok - the conformance files are not at $shared"
  echo "0 passed, 1 failed"
  exit 1
fi
work=$(mktemp -d /tmp/promlite-promql-XXXXXX)
trap 'rm -rf "$work"' EXIT
own=$(ls "$SRCDIR"/tests/promql/*.test 2>/dev/null)
# shellcheck disable=SC2086
"$PROMLITE" promqltest --scratch "$work" --known-failures "$SRCDIR/tests/promql/known_failures.txt" \
  "$shared"/*.test $own
