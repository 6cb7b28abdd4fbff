#!/bin/sh
# differential.sh - the same data in promlite and in the real Prometheus
# (Debian's 2.42), the same queries over both HTTP APIs, the same answers.
#
# The node_exporter-shaped dataset of ../shared/bench (3 hosts, 1 h at 15 s)
# is imported by `promlite import` and by `promtool tsdb create-blocks-from
# openmetrics`; both servers start on free loopback ports; every query of
# tests/differential/queries.txt runs as an instant and a range query on
# both (tests/differential/compare.py).  Skipped (exit 77) without
# prometheus, promtool or python3.
set -u
: "${PROMLITE:?PROMLITE must name the promlite binary}"
for t in prometheus promtool python3; do
  command -v $t >/dev/null 2>&1 || { echo "$t not installed: skipped"; exit 77; }
done
gen="$SRCDIR/../shared/bench/gen_openmetrics.py"
[ -f "$gen" ] || { echo "not ok - $gen is missing"; echo "0 passed, 1 failed"; exit 1; }
work=$(mktemp -d /tmp/promlite-diff-XXXXXX)
pids=""
cleanup() { for p in $pids; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; rm -rf "$work"; }
trap cleanup EXIT
python3 "$gen" --hosts 3 --duration 1h --interval 15s --seed 7 --meta "$work/meta.env" > "$work/data.om" || exit 1
. "$work/meta.env"
"$PROMLITE" import --quiet --storage.tsdb.path "$work/promlite" "$work/data.om" || { echo "0 passed, 1 failed"; exit 1; }
promtool tsdb create-blocks-from openmetrics "$work/data.om" "$work/prometheus" > "$work/promtool.log" 2>&1 ||
  { cat "$work/promtool.log"; echo "0 passed, 1 failed"; exit 1; }
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
pa=$(free_port) pb=$(free_port)
printf 'global:\n  scrape_interval: 15s\n' > "$work/prometheus.yml"
"$PROMLITE" server --storage.tsdb.path "$work/promlite" --web.listen-address "127.0.0.1:$pa" \
  --config.file "$work/prometheus.yml" 2> "$work/promlite.log" &
pids="$pids $!"
prometheus --config.file "$work/prometheus.yml" --storage.tsdb.path "$work/prometheus" \
  --storage.tsdb.retention.time 100y --web.listen-address "127.0.0.1:$pb" > "$work/prometheus.log" 2>&1 &
pids="$pids $!"
ready() { python3 -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:$1/-/ready', timeout=1)" 2>/dev/null; }
for i in $(seq 100); do ready "$pa" && ready "$pb" && break; sleep 0.2; done
ready "$pa" || { cat "$work/promlite.log"; echo "not ok - promlite is not ready"; echo "0 passed, 1 failed"; exit 1; }
ready "$pb" || { tail -5 "$work/prometheus.log"; echo "not ok - prometheus is not ready"; echo "0 passed, 1 failed"; exit 1; }
# END is the last sample's time (unix seconds).
python3 "$SRCDIR/tests/differential/compare.py" "$SRCDIR/tests/differential/queries.txt" \
  "http://127.0.0.1:$pa" "http://127.0.0.1:$pb" "$END"
