#!/bin/sh
# summarize.sh BUILDDIR... - adds up the results of every test level in the
# given build trees and prints "N passed, N failed".
#
# A cmocka binary counts its test cases ("[  PASSED  ] N test(s)."), an
# end-to-end script its checks (its own "N passed, N failed" line, with
# ", N skipped" for known failures of the PromQL conformance run); any other
# test counts as one.  A test that the harness saw fail (a crash, a sanitizer
# report) counts as at least one failure even if it printed no count.
passed=0 failed=0 skipped=0
for dir in "$@"; do
  for trs in $(find "$dir/tests" -name '*.trs' 2>/dev/null | sort); do
    log=${trs%.trs}.log
    res=$(sed -n 's/^:test-result: //p' "$trs" | head -1)
    p=0 f=0
    if grep -q '^\[  PASSED  \] [0-9]* test' "$log" 2>/dev/null || grep -q '^\[  FAILED  \] [0-9]* test' "$log" 2>/dev/null; then
      p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -1)
      f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -1)
    elif grep -qE '^[0-9]+ passed, [0-9]+ failed' "$log" 2>/dev/null; then
      line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
      p=$(echo "$line" | sed 's/ passed.*//')
      f=$(echo "$line" | sed 's/.* passed, \([0-9]*\) failed.*/\1/')
      case "$line" in *skipped*) skipped=$((skipped + $(echo "$line" | sed 's/.* failed, \([0-9]*\) skipped.*/\1/'))) ;; esac
    elif [ "$res" = PASS ]; then
      p=1
    fi
    p=${p:-0} f=${f:-0}
    case "$res" in FAIL|ERROR|XPASS) [ "$f" -eq 0 ] && f=1 ;; esac
    [ "$f" -gt 0 ] && echo "FAILED: ${log#$dir/} ($f)"
    passed=$((passed + p)) failed=$((failed + f))
  done
done
if [ "$skipped" -gt 0 ]; then echo "$passed passed, $failed failed, $skipped skipped"; else echo "$passed passed, $failed failed"; fi
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
