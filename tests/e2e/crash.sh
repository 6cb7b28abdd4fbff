#!/bin/sh
# crash.sh - SIGKILL in the middle of appending loses no acknowledged batch.
#
# crashwriter appends batches (batch b: t = b s, v = b for every series) and
# prints "ack b" after each commit.  We kill it at a random moment, reopen
# with promlite (which replays the WAL), and check that every acknowledged
# batch is there for every series, in order and without gaps.  Rounds 3-5
# checkpoint every 16 KiB of WAL, so that kills also hit checkpoints; rounds
# 4-5 sync the WAL once a second, as the server does.
. "$SRCDIR/tests/e2e/lib.sh"
CRASHWRITER=$BUILDDIR/tests/unit/crashwriter
SERIES=40
for round in 1 2 3 4 5; do
  dir=$WORK/db$round
  ckpt=0; [ $round -ge 3 ] && ckpt=16384
  sync=0; [ $round -ge 4 ] && sync=1000
  "$CRASHWRITER" "$dir" $SERIES $ckpt $sync > "$WORK/acks" 2> "$WORK/cw.err" &
  pid=$!
  # Let it run between 0.3 and 1.5 seconds.
  sleep "$(awk -v r="$round" 'BEGIN { srand(r * 7919); printf "%.2f", 0.3 + rand() * 1.2 }')"
  kill -9 $pid
  wait $pid 2>/dev/null
  last=$(sed -n 's/^ack //p' "$WORK/acks" | tail -1)
  if [ -z "$last" ]; then not_ok "round $round: writer acknowledged nothing ($(cat "$WORK/cw.err"))"; continue; fi
  expect_exit 0 "round $round: reopen after SIGKILL" "$PROMLITE" tsdb dump --storage.tsdb.path "$dir" --match crash_test
  # Per series: the timestamps must be 0, 1000, 2000, ... with value = t/1000,
  # and reach at least the last acknowledged batch.
  awk -v last="$last" -v series=$SERIES '
    /^#/ { next }
    { split($1, a, "\""); s = a[2]; t = $3; v = $2
      if (t != n[s] * 1000 || v != n[s]) bad++
      n[s]++ }
    END {
      for (i = 0; i < series; i++) if (n[i] < last + 1) { missing++; }
      if (bad || missing) { printf "bad=%d missing=%d\n", bad, missing; exit 1 }
    }' "$WORK/out" > "$WORK/verdict"
  check "round $round: all $((last + 1)) acknowledged batches of $SERIES series survive" [ $? -eq 0 ]
  # And the recovered database accepts new writes.
  "$CRASHWRITER" "$dir" $SERIES $ckpt $sync > "$WORK/acks2" 2>&1 &
  pid=$!
  sleep 0.3
  kill -9 $pid
  wait $pid 2>/dev/null
done
finish
