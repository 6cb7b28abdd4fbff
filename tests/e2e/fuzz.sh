#!/bin/sh
# fuzz.sh - a short libFuzzer run of the exposition parser (both formats).
# Skipped (exit 77) where clang with libFuzzer is not available.
. "$SRCDIR/tests/e2e/lib.sh"
[ -n "${CLANG:-}" ] || { echo "clang not found: skipped"; exit 77; }
bin=$WORK/fuzz_expfmt
if ! "$CLANG" -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined -D_DEFAULT_SOURCE -I"$SRCDIR" -I"$BUILDDIR" \
     -o "$bin" "$SRCDIR/tests/fuzz/fuzz_expfmt.c" "$BUILDDIR/ingest/expfmt.c" "$SRCDIR/common/labels.c" \
     "$SRCDIR/common/util.c" -lxxhash -lm 2> "$WORK/build.err"; then
  if grep -q 'libclang_rt.fuzzer\|fsanitize=fuzzer' "$WORK/build.err"; then echo "libFuzzer not available: skipped"; exit 77; fi
  cat "$WORK/build.err"
  not_ok "fuzz target builds"
  finish
fi
ok "fuzz target builds"
mkdir -p "$WORK/corpus"
cp "$SRCDIR"/tests/fuzz/corpus_expfmt/* "$WORK/corpus/" 2>/dev/null
"$bin" -max_total_time="${FUZZ_SECONDS:-20}" -rss_limit_mb=1024 -print_final_stats=1 "$WORK/corpus" > "$WORK/fuzz.log" 2>&1
rc=$?
tail -5 "$WORK/fuzz.log"
check "no crash, leak or overflow in ${FUZZ_SECONDS:-20}s of fuzzing" [ $rc -eq 0 ]

# The PromQL parser: parse, format, re-parse (tests/fuzz/fuzz_promql.c).
pbin=$WORK/fuzz_promql
if "$CLANG" -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined -D_DEFAULT_SOURCE -D_GNU_SOURCE \
     -I"$SRCDIR" -I"$BUILDDIR" -o "$pbin" "$SRCDIR/tests/fuzz/fuzz_promql.c" "$BUILDDIR/query/parser.c" \
     "$BUILDDIR/query/lexer.c" "$SRCDIR/query/ast.c" "$SRCDIR/common/selector.c" "$SRCDIR/common/timeutil.c" \
     "$SRCDIR/common/labels.c" "$SRCDIR/common/util.c" -lpcre2-8 -lxxhash -lm 2> "$WORK/build_promql.err"; then
  ok "PromQL fuzz target builds"
  mkdir -p "$WORK/corpus_promql"
  cp "$SRCDIR"/tests/fuzz/corpus_promql/* "$WORK/corpus_promql/" 2>/dev/null
  "$pbin" -max_total_time="${FUZZ_SECONDS:-20}" -rss_limit_mb=1024 -print_final_stats=1 "$WORK/corpus_promql" \
    > "$WORK/fuzz_promql.log" 2>&1
  rc=$?
  tail -5 "$WORK/fuzz_promql.log"
  check "PromQL parser: no crash, leak or broken round trip in ${FUZZ_SECONDS:-20}s of fuzzing" [ $rc -eq 0 ]
else
  cat "$WORK/build_promql.err"
  not_ok "PromQL fuzz target builds"
fi
finish
