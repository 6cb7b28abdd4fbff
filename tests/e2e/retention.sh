#!/bin/sh
# retention.sh - retention by time and by size through the CLI flags.
#
# Chunks hold up to 240 samples, so four hours at 15 s give each series four
# chunks: enough for chunk-granular retention to have something to delete
# while keeping everything inside the window.
. "$SRCDIR/tests/e2e/lib.sh"
awk 'BEGIN { for (s = 0; s < 5; s++) for (i = 0; i < 960; i++)
  printf "ret_metric{s=\"%d\"} %d.%d %d\n", s, i * (s + 1), i % 10, 1700000000 + i * 15; print "# EOF" }' > "$WORK/data.om"
expect_exit 0 "import" "$PROMLITE" import --storage.tsdb.path "$WORK/d" "$WORK/data.om"
expect_grep "4800 samples imported" "$WORK/out" "import keeps old samples without a retention flag"
"$PROMLITE" tsdb stats --storage.tsdb.path "$WORK/d" > "$WORK/before"
min_before=$(sed -n 's/^Min time: .*(\(.*\))$/\1/p' "$WORK/before")
max_before=$(sed -n 's/^Max time: .*(\(.*\))$/\1/p' "$WORK/before")
check "max time is the newest sample" [ "$max_before" = $(( (1700000000 + 959 * 15) * 1000 )) ]

# Import nothing new but with a 1h retention: older chunks go.
printf '# EOF\n' > "$WORK/empty.om"
expect_exit 0 "import with 1h retention" "$PROMLITE" import --storage.tsdb.path "$WORK/d" --storage.tsdb.retention.time=1h "$WORK/empty.om"
expect_grep "^retention: [0-9]+ chunks deleted" "$WORK/out" "deleted chunks are reported"
"$PROMLITE" tsdb stats --storage.tsdb.path "$WORK/d" > "$WORK/after"
min_after=$(sed -n 's/^Min time: .*(\(.*\))$/\1/p' "$WORK/after")
max_after=$(sed -n 's/^Max time: .*(\(.*\))$/\1/p' "$WORK/after")
check "newest sample kept" [ "$max_after" = "$max_before" ]
check "oldest samples deleted" [ "$min_after" -gt "$min_before" ]
# Chunk-granular: nothing within the retention window is lost.
check "everything within 1h of the newest sample kept" [ "$min_after" -le $((max_before - 3600000)) ]
"$PROMLITE" tsdb dump --storage.tsdb.path "$WORK/d" --match ret_metric --min-time $((max_before - 3600000)) > "$WORK/window"
check "all 5 x 241 samples of the last hour readable" [ "$(grep -vc '^#' "$WORK/window")" -eq 1205 ]

# Size retention: a limit far below the data size deletes the oldest chunks
# until the data fits (chunk bytes), keeping the newest ones.
expect_exit 0 "import with a 1KB size retention" "$PROMLITE" import --storage.tsdb.path "$WORK/d" --storage.tsdb.retention.size=1KB "$WORK/empty.om"
"$PROMLITE" tsdb stats --storage.tsdb.path "$WORK/d" > "$WORK/sized"
samples_sized=$(sed -n 's/^Samples: *//p' "$WORK/sized")
samples_after=$(sed -n 's/^Samples: *//p' "$WORK/after")
check "size retention deleted samples ($samples_sized < $samples_after)" [ "$samples_sized" -lt "$samples_after" ]
expect_exit 2 "a bad retention value is refused" "$PROMLITE" import --storage.tsdb.path "$WORK/d" --storage.tsdb.retention.time=forever "$WORK/empty.om"
expect_grep 'invalid duration "forever" for --storage.tsdb.retention.time' "$WORK/err" "the bad value is named"
finish
