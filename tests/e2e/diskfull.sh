#!/bin/sh
# diskfull.sh - running out of space is reported clearly, loses nothing that
# was stored, and the folder works again once space is there.
#
# The file size limit (ulimit -f) stands in for a full disk: writes past it
# fail with EFBIG exactly where a full disk fails with ENOSPC.
. "$SRCDIR/tests/e2e/lib.sh"
sh "$SRCDIR/examples/sample-data.sh" > "$WORK/sample.om"
expect_exit 0 "import a first dataset" "$PROMLITE" import --storage.tsdb.path "$WORK/d" "$WORK/sample.om"
"$PROMLITE" tsdb dump --storage.tsdb.path "$WORK/d" > "$WORK/dump1"
# A larger dataset under a file size limit a little above the current size.
awk 'BEGIN { for (s = 0; s < 3000; s++) for (i = 0; i < 100; i++)
  printf "big{s=\"%d\"} %d.%d %d\n", s, i * s, i, 1000000 + i * 15000 }' > "$WORK/big.prom"
size_kb=$(( $(stat -c %s "$WORK/d/data.mdb") / 1024 + 64 ))
(trap '' XFSZ; ulimit -f "$size_kb"; exec "$PROMLITE" import --format=text --storage.tsdb.path "$WORK/d" "$WORK/big.prom") > "$WORK/out" 2> "$WORK/err"
check "import under a full disk fails" [ $? -eq 1 ]
expect_grep 'no space left for the data folder' "$WORK/err" "the error says the disk is full"
sed 's/^/# /' "$WORK/err"
expect_grep "$WORK/d" "$WORK/err" "the error names the data folder"
expect_exit 0 "the folder opens after the failure" "$PROMLITE" tsdb dump --storage.tsdb.path "$WORK/d" --match '{__name__=~"node_.*"}'
grep -v '^#' "$WORK/dump1" > "$WORK/a"; grep -v '^#' "$WORK/out" > "$WORK/b"
check "everything stored before is intact" cmp -s "$WORK/a" "$WORK/b"
expect_exit 0 "with space again the import succeeds" "$PROMLITE" import --format=text --storage.tsdb.path "$WORK/d" "$WORK/big.prom"
expect_exit 0 "count after retry" "$PROMLITE" tsdb dump --storage.tsdb.path "$WORK/d" --match big
check "all 300000 samples stored after the retry" [ "$(grep -vc '^#' "$WORK/out")" -eq 300000 ]
finish
