#!/usr/bin/env bash
# run.sh - `make bench`: storage benchmarks against the reference, same data,
# same run.
#
#  1. Backfill: the node_exporter-shaped dataset of ../shared/bench (100 hosts,
#     2 h at 15 s, 14.16 M samples) imported by promlite and, where promtool is
#     installed (Debian package prometheus), by `promtool tsdb create-blocks-
#     from openmetrics`; bytes per sample on disk (everything in the data
#     folder), samples per CPU-second and peak RSS, with the ratios.
#  2. Head memory: RSS per active series with 100 k series in the open-chunk
#     state (bench/head_memory).
#  3. PromQL latency: the five headline queries over the imported data,
#     instant at its end and 2 h ranges at 15 s (bench/query_latency); the
#     side-by-side comparison with Prometheus runs over HTTP once the
#     server is there.
#
# env: BENCH_DATA (work folder, default bench/_data in the build tree),
#      HOSTS/DURATION/INTERVAL as in ../shared/bench, SHARED (../shared path).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/.." && pwd)
build=$(pwd)
PROMLITE=${PROMLITE:-$build/promlite}
SHARED=${SHARED:-$src/../shared}
data=${BENCH_DATA:-$build/bench/_data}
mkdir -p "$data"
[ -x "$SHARED/bench/backfill_bench.sh" ] || [ -f "$SHARED/bench/backfill_bench.sh" ] || {
  echo "bench: $SHARED/bench not found (set SHARED to the shared folder)" >&2; exit 2; }
command -v time >/dev/null 2>&1 || [ -x /usr/bin/time ] || { echo "bench: GNU time is needed (apt-get install time)" >&2; exit 2; }

echo "== backfill: promlite"
IMPORT_CMD="$PROMLITE import --progress=none --storage.tsdb.path {out} {in}" CHUNK_FILES="-type f" \
  KEEP_OM=1 REUSE_OM=${REUSE_OM:-0} STORE_DIR="$data/store-promlite" RESULT="$data/promlite.txt" \
  bash "$SHARED/bench/backfill_bench.sh" "$data" > /dev/null
cat "$data/promlite.txt"
"$PROMLITE" tsdb stats --storage.tsdb.path "$data/store-promlite" | sed -n '2,12p'

have_ref=0
if command -v promtool >/dev/null 2>&1; then
  echo
  echo "== backfill: promtool ($(promtool --version 2>&1 | head -1))"
  KEEP_OM=1 REUSE_OM=1 STORE_DIR="$data/store-promtool" RESULT="$data/promtool.txt" \
    bash "$SHARED/bench/backfill_bench.sh" "$data" > /dev/null
  cat "$data/promtool.txt"
  have_ref=1
  rm -rf "$data/store-promtool"
else
  echo "promtool not installed (apt-get install prometheus): no reference run"
fi

echo
echo "== head memory: RSS per active series"
"$build/bench/head_memory" "$data/head-memory" 100000

echo
echo "== PromQL latency over the imported data (Prometheus 2.42 measured on this kind of machine:"
echo "   instant 8.1 / 11.1 / 5.4 ms, 2 h range 66 / 343 / 143 / 462 / 254 ms; target 0.5x each)"
"$build/bench/query_latency" "$data/store-promlite" 15

if [ "$have_ref" = 1 ]; then
  echo
  echo "== ratios promlite / Prometheus (same data, same run)"
  python3 - "$data/promlite.txt" "$data/promtool.txt" <<'PY'
import sys
def load(p):
    d = {}
    for line in open(p):
        parts = line.split()
        if len(parts) >= 2:
            d[parts[0]] = parts[1] if parts[0] != "import_cpu_s" else parts[2]
    return d
a, b = load(sys.argv[1]), load(sys.argv[2])
def f(d, k): return float(d[k])
rows = [
    ("bytes per sample on disk (total)", f(a, "bytes_per_sample_total"), f(b, "bytes_per_sample_total"), "<= 0.75x (aim 0.5x)", lambda r: r <= 0.75),
    ("samples per CPU-second", f(a, "samples_per_cpu_second"), f(b, "samples_per_cpu_second"), ">= 3x", lambda r: r >= 3),
    ("peak RSS of the import (MiB)", f(a, "import_max_rss_MiB"), f(b, "import_max_rss_MiB"), "<= 0.25x", lambda r: r <= 0.25),
]
for name, x, y, target, ok in rows:
    r = x / y if y else float("nan")
    print("%-34s promlite %12.3f  prometheus %12.3f  ratio %6.3fx  target %-20s %s" % (name, x, y, r, target, "met" if ok(r) else "MISSED"))
PY
fi
[ "${KEEP_OM:-0}" = 1 ] || rm -f "$data/dataset.om"
