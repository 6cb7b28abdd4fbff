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
#     instant at its end and 2 h ranges at 15 s, in process
#     (bench/query_latency) and over HTTP side by side with Prometheus
#     serving promtool's blocks of the same data (../shared/bench's
#     serve_bench.sh for both), with the ratios and a diff of the answers.
#  4. Scrape cost, promlite beside Prometheus (section 4 below).
#  5. The HTTP client's share of a scrape (bench/http_client_cost).
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

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
if [ "$have_ref" = 1 ] && command -v prometheus >/dev/null 2>&1; then
  echo
  echo "== PromQL over HTTP, promlite and Prometheus serving the same data"
  rm -rf "$data/serve-promlite" "$data/serve-prometheus"
  ADDR=127.0.0.1:$(free_port) IDLE_WAIT=3 QB_RUNS=${QB_RUNS:-15} BENCH_DATA="$data" \
    SERVER_CMD="$PROMLITE server --config.file {config} --storage.tsdb.path {data} --web.listen-address {addr}" \
    bash "$SHARED/bench/serve_bench.sh" "$data/store-promlite" "$data/serve-promlite" > /dev/null
  ADDR=127.0.0.1:$(free_port) IDLE_WAIT=3 QB_RUNS=${QB_RUNS:-15} BENCH_DATA="$data" \
    bash "$SHARED/bench/serve_bench.sh" "$data/store-promtool" "$data/serve-prometheus" > /dev/null
  python3 - "$data/serve-promlite/serve.txt" "$data/serve-prometheus/serve.txt" <<'PY'
import sys
def load(p):
    meta, q = {}, {}
    for line in open(p):
        f = line.split()
        if len(f) == 7 and f[-1] in ("success", "error"):
            q[f[0]] = float(f[1])
        elif len(f) == 2:
            meta[f[0]] = f[1]
    return meta, q
(ma, qa), (mb, qb) = load(sys.argv[1]), load(sys.argv[2])
print("%-16s %12s %12s %8s  %s" % ("query", "promlite ms", "Prometheus ms", "ratio", "target <= 0.5x"))
for name in qb:
    if name in qa:
        r = qa[name] / qb[name] if qb[name] else float("nan")
        print("%-16s %12.2f %12.2f %7.2fx  %s" % (name, qa[name], qb[name], r, "met" if r <= 0.5 else "MISSED"))
for k in ("store_ready_ms", "empty_rss_after_3s_MiB", "store_rss_after_queries_MiB", "server_binary_bytes"):
    if k in ma and k in mb:
        print("%-28s promlite %10s  Prometheus %10s" % (k, ma[k], mb[k]))
PY
  python3 "$SHARED/bench/diff_results.py" "$data/serve-prometheus/answers" "$data/serve-promlite/answers" | tail -12 || true
fi
rm -rf "$data/store-promtool"

# 4. Scrape cost: 200 node-shaped targets (../shared/bench/gen_exposition.py)
#    scraped every 5 s by promlite and by Prometheus at the same time, each
#    from its own copy of the targets (ports 19100.. and 19400..), so that
#    a busy neighbour on the machine weighs on both alike; CPU per sample
#    and RSS per active series.  SCRAPE_SECONDS=0 skips it and section 5 (it
#    takes SCRAPE_SECONDS plus start-up, and section 5 about 6 minutes).
SCRAPE_SECONDS=${SCRAPE_SECONDS:-240}
if [ "$SCRAPE_SECONDS" -gt 0 ]; then
  echo
  echo "== scrape cost: 200 targets x 295 series every 5 s, ${SCRAPE_SECONDS}s side by side (first 60 s not measured)"
  RUN_SECONDS=$SCRAPE_SECONDS WARMUP_SECONDS=60 ADDR=127.0.0.1:$(free_port) BASE_PORT=19100 \
    SERVER_CMD="$PROMLITE server --config.file {config} --storage.tsdb.path {data} --web.listen-address {addr}" \
    bash "$SHARED/bench/scrape_bench.sh" "$data/scrape-promlite" > /dev/null 2>&1 &
  promlite_run=$!
  prometheus_run=
  if command -v prometheus >/dev/null 2>&1; then
    RUN_SECONDS=$SCRAPE_SECONDS WARMUP_SECONDS=60 ADDR=127.0.0.1:$(free_port) BASE_PORT=19400 \
      bash "$SHARED/bench/scrape_bench.sh" "$data/scrape-prometheus" > /dev/null 2>&1 &
    prometheus_run=$!
  fi
  wait "$promlite_run" || echo "promlite scrape run failed"
  if [ -n "$prometheus_run" ]; then wait "$prometheus_run" || echo "Prometheus scrape run failed"; fi
  python3 - "$data/scrape-promlite" "$data/scrape-prometheus" <<'PY'
import os, sys
def load(d):
    out = {}
    for name in os.listdir(d) if os.path.isdir(d) else []:
        if not name.endswith(".txt"):
            continue
        for line in open(os.path.join(d, name)):
            f = line.split()
            if len(f) >= 2:
                out[f[0]] = f[-1] if f[0].startswith("active_series") else f[1]
    return out
a, b = load(sys.argv[1]), load(sys.argv[2])
rows = [("server_cpu_s_per_1M_samples_served", "CPU seconds per 1M samples", 0.25),
        ("rss_bytes_per_active_series", "RSS bytes per active series", 0.25),
        ("scrape_duration_avg_ms", "scrape duration, mean ms", None)]
for key, name, target in rows:
    x, y = a.get(key), b.get(key)
    if x is None:
        print("%-30s promlite n/a" % name)
        continue
    if y is None:
        print("%-30s promlite %10s" % (name, x))
        continue
    r = float(x) / float(y) if float(y) else float("nan")
    verdict = "" if target is None else ("target <= %.2fx %s" % (target, "met" if r <= target else "MISSED"))
    print("%-30s promlite %10s  Prometheus %10s  ratio %5.2fx  %s" % (name, x, y, r, verdict))
PY

  # 5. The HTTP client's share of a scrape: the same 200 targets fetched
  #    without parsing by libcurl as the scrape loop uses it (HTTPS and
  #    proxied targets), by httpget (the scrape loop's client for plain
  #    http) and by a bare kept-alive socket (bench/http_client_cost), three
  #    rounds of each, alternated so that a noisy neighbour hits all; medians
  #    and ratios.
  CLIENT_SECONDS=${CLIENT_SECONDS:-30} client_port=19100 client_targets=200
  echo
  echo "== HTTP client cost per request, same 200 targets (${CLIENT_SECONDS}s per round, 3 rounds each)"
  python3 "$SHARED/bench/gen_exposition.py" --hosts "$client_targets" --base-port "$client_port" \
    > "$data/client-targets.log" 2>&1 &
  targets_pid=$!
  last_url=http://127.0.0.1:$((client_port + client_targets - 1))/-/healthy
  for _ in $(seq 1 500); do curl -fs -o /dev/null "$last_url" && break; sleep 0.02; done
  : > "$data/client-cost.txt"
  for _ in 1 2 3; do
    for mode in curl httpget socket; do
      "$build/bench/http_client_cost" "$mode" "$client_port" "$client_targets" "$CLIENT_SECONDS" \
        >> "$data/client-cost.txt" ||
        echo "http_client_cost $mode failed"
    done
  done
  kill "$targets_pid" 2>/dev/null; wait "$targets_pid" 2>/dev/null || true
  python3 - "$data/client-cost.txt" "$data/scrape-promlite" <<'PY'
import os, statistics, sys
us = {}
for line in open(sys.argv[1]):
    f = line.split()
    if len(f) == 7:
        us.setdefault(f[0], []).append(float(f[6]))
scrape = None
p = os.path.join(sys.argv[2], "scrape.txt")
if os.path.exists(p):
    kv = {f[0]: f[1] for f in (line.split() for line in open(p)) if len(f) >= 2}
    if "server_cpu_s_in_window" in kv and kv.get("scrapes_served_in_window", "0") != "0":
        scrape = float(kv["server_cpu_s_in_window"]) / int(kv["scrapes_served_in_window"]) * 1e6
c, h, s = (statistics.median(us[k]) if k in us else None for k in ("curl", "httpget", "socket"))
if c is None or h is None or s is None:
    print("http client cost: n/a")
    sys.exit(0)
print("libcurl (https, proxies)        %7.1f us per request" % c)
print("httpget (plain http)            %7.1f us per request   ratio httpget/libcurl %.2fx" % (h, h / c))
print("bare kept-alive socket          %7.1f us per request   ratio socket/libcurl %.2fx" % (s, s / c))
if scrape:
    print("promlite scrape, all work       %7.1f us per scrape (run above): fetching with httpget is %.0f%% of it,"
          " with libcurl it would be %.0f%%" % (scrape, 100 * h / scrape, 100 * c / (scrape - h + c)))
PY
fi

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
