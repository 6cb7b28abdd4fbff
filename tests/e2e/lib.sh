# lib.sh - shared helpers of the end-to-end tests (sourced).
#
# Each test runs the real binary ($PROMLITE) in a temporary folder, records
# every check as "ok - ..." or "not ok - ...", and ends with the line
# "N passed, N failed" that tests/summarize.sh adds up.
set -u
: "${PROMLITE:?PROMLITE must name the promlite binary}"
WORK=$(mktemp -d /tmp/promlite-e2e-XXXXXX)
trap 'rm -rf "$WORK"' EXIT
PASSED=0
FAILED=0

ok() { PASSED=$((PASSED + 1)); echo "ok - $1"; }
not_ok() { FAILED=$((FAILED + 1)); echo "not ok - $1"; }

# check DESCRIPTION COMMAND...: passes when the command succeeds.
check() {
  local what=$1; shift
  if "$@"; then ok "$what"; else not_ok "$what"; fi
}

# expect_exit CODE DESCRIPTION COMMAND...: runs the command, output in
# $WORK/out and $WORK/err, and checks its exit code.
expect_exit() {
  local code=$1 what=$2; shift 2
  "$@" > "$WORK/out" 2> "$WORK/err"
  local rc=$?
  if [ "$rc" -eq "$code" ]; then ok "$what"; else not_ok "$what (exit $rc, want $code; stderr: $(head -c 300 "$WORK/err"))"; fi
}

# expect_grep PATTERN FILE DESCRIPTION
expect_grep() {
  if grep -qE -- "$1" "$2"; then ok "$3"; else not_ok "$3 (no /$1/ in $(basename "$2"): $(head -c 300 "$2"))"; fi
}

finish() {
  echo "$PASSED passed, $FAILED failed"
  [ "$FAILED" -eq 0 ]
  exit $?
}
