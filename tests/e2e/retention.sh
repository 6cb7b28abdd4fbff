#!/bin/sh
# retention.sh - retention by time and by size through the CLI flags.
. "$SRCDIR/tests/e2e/lib.sh"
sh "$SRCDIR/examples/sample-data.sh" > "$WORK/sample.om"
expect_exit 0 "import" "$PROMLITE" import --storage.tsdb.path "$WORK/d" "$WORK/sample.om"
"$PROMLITE" tsdb stats --storage.tsdb.path "$WORK/d" > "$WORK/before"
min_before=$(sed -n 's/^Min time: .*(\(.*\))$/\1/p' "$WORK/before")
max_before=$(sed -n 's/^Max time: .*(\(.*\))$/\1/p' "$WORK/before")
# Import nothing new but with a 20m retention: older chunks go.
printf '# EOF\n' > "$WORK/empty.om"
expect_exit 0 "import with 20m retention" "$PROMLITE" import --storage.tsdb.path "$WORK/d" --storage.tsdb.retention.time=20m "$WORK/empty.om"
"$PROMLITE" tsdb stats --storage.tsdb.path "$WORK/d" > "$WORK/after"
min_after=$(sed -n 's/^Min time: .*(\(.*\))$/\1/p' "$WORK/after")
max_after=$(sed -n 's/^Max time: .*(\(.*\))$/\1/p' "$WORK/after")
check "newest sample kept" [ "$max_after" = "$max_before" ]
check "oldest samples deleted" [ "$min_after" -gt "$min_before" ]
# Chunk-granular: nothing within the retention window is lost.
check "everything within 20m of the newest sample kept" [ "$min_after" -le $((max_before - 1200000)) ]
finish
