#!/bin/sh
# scrape.sh - `promlite server` scraping real HTTP targets end to end: a
# normal target, basic auth, a timeout, garbage, a sample_limit overrun,
# gzip, OpenMetrics, staleness, honor_labels, relabeling, a reload that adds
# a job, a bad reload that keeps the running config, and Debian's real
# node_exporter.  Checked through /api/v1/query and /api/v1/targets.
. "$SRCDIR/tests/e2e/lib.sh"
for t in curl python3; do command -v $t >/dev/null 2>&1 || { echo "$t not installed: skipped"; exit 77; }; done
python3 "$SRCDIR/tests/fixtures/targets.py" > "$WORK/fixture.out" 2>&1 &
fixture=$!
trap 'kill $fixture $server $nodeexp 2>/dev/null; rm -rf "$WORK"' EXIT
server= nodeexp=
for i in $(seq 50); do grep -q ready "$WORK/fixture.out" 2>/dev/null && break; sleep 0.1; done
fp=$(head -1 "$WORK/fixture.out")
check "the fixture targets are up" [ -n "$fp" ]
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
node_job=
if command -v prometheus-node-exporter >/dev/null 2>&1; then
  np=$(free_port)
  prometheus-node-exporter --web.listen-address="127.0.0.1:$np" > "$WORK/node.log" 2>&1 &
  nodeexp=$!
  node_job="
  - job_name: node
    static_configs: [{targets: ['127.0.0.1:$np']}]"
fi
cat > "$WORK/promlite.yml" <<YML
global:
  scrape_interval: 1s
  scrape_timeout: 800ms
scrape_configs:
  - job_name: plain
    static_configs: [{targets: ['127.0.0.1:$fp'], labels: {site: 'test'}}]
  - job_name: flappy
    metrics_path: /flappy
    static_configs: [{targets: ['127.0.0.1:$fp']}]
  - job_name: honor
    honor_labels: true
    static_configs: [{targets: ['127.0.0.1:$fp']}]
    metric_relabel_configs:
      - {source_labels: [__name__], regex: 'fixture_requests_total', action: drop}
  - job_name: auth
    metrics_path: /auth
    basic_auth: {username: scraper, password: s3cret}
    static_configs: [{targets: ['127.0.0.1:$fp']}]
  - job_name: noauth
    metrics_path: /auth
    static_configs: [{targets: ['127.0.0.1:$fp']}]
  - job_name: slow
    metrics_path: /slow
    static_configs: [{targets: ['127.0.0.1:$fp']}]
  - job_name: garbage
    metrics_path: /garbage
    static_configs: [{targets: ['127.0.0.1:$fp']}]
  - job_name: many
    metrics_path: /many
    sample_limit: 1000
    static_configs: [{targets: ['127.0.0.1:$fp']}]
  - job_name: gzip
    metrics_path: /gzip
    static_configs: [{targets: ['127.0.0.1:$fp']}]
  - job_name: om
    metrics_path: /openmetrics
    static_configs: [{targets: ['127.0.0.1:$fp']}]
  - job_name: relabeled
    static_configs: [{targets: ['127.0.0.1:$fp', 'drop.me:1']}]
    relabel_configs:
      - {source_labels: [__address__], regex: 'drop\..*', action: drop}
      - {target_label: env, replacement: staging}$node_job
YML
sp=$(free_port)
"$PROMLITE" server --config.file "$WORK/promlite.yml" --storage.tsdb.path "$WORK/d" --web.listen-address "127.0.0.1:$sp" \
  --web.enable-lifecycle 2> "$WORK/server.err" &
server=$!
url=http://127.0.0.1:$sp
for i in $(seq 50); do curl -sf "$url/-/ready" >/dev/null && break; sleep 0.1; done
sleep 4
q() { curl -s "$url/api/v1/query" --data-urlencode "query=$1" > "$WORK/q.json"; }
value_of() { python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["data"]["result"]; print(" ".join(sorted(x["value"][1] for x in r)) if r else "none")' "$WORK/q.json"; }
expect_value() { q "$1"; got=$(value_of); check "$1 = $2 (got $got)" [ "$got" = "$2" ]; }

expect_value 'up{job="plain"}' 1
expect_value 'up{job="auth"}' 1
expect_value 'up{job="noauth"}' 0
expect_value 'up{job="slow"}' 0
expect_value 'up{job="garbage"}' 0
expect_value 'up{job="many"}' 0
expect_value 'up{job="gzip"}' 1
expect_value 'up{job="om"}' 1
expect_value 'count(up{job="relabeled"})' 1
expect_value 'fixture_temperature{job="plain",room="lab",site="test"}' 21.5
expect_value 'fixture_temperature{job="plain",exported_job="exported"}' 19
expect_value 'fixture_temperature{job="exported",room="hall"}' 19
expect_value 'count(fixture_requests_total{job="honor"})' none
expect_value 'scrape_samples_post_metric_relabeling{job="honor"}' 2
expect_value 'om_events_total{job="om"}' 42
expect_value 'count(many_series)' none
expect_value 'scrape_samples_scraped{job="plain"}' 3
expect_value 'up{job="relabeled",env="staging"}' 1
q 'scrape_duration_seconds{job="slow"}'
check "a timed-out scrape takes about the timeout" python3 -c 'import json,sys; v=float(json.load(open(sys.argv[1]))["data"]["result"][0]["value"][1]); sys.exit(0 if 0.7 <= v <= 1.5 else 1)' "$WORK/q.json"
# flappy_gauge comes and goes every other scrape: while it is absent its
# staleness marker hides it at once (without one the lookback would show
# it for 5 minutes).
seen=0 missing=0
for i in 1 2 3 4 5 6; do
  q 'flappy_gauge{job="flappy"}'; [ "$(value_of)" = 1 ] && seen=$((seen + 1)) || missing=$((missing + 1))
  sleep 0.5
done
check "a series that vanishes is marked stale at once (seen $seen, gone $missing of 6)" [ $seen -gt 0 ] && [ $missing -gt 0 ]

curl -s "$url/api/v1/targets" > "$WORK/targets.json"
check "targets lists the active targets" python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))["data"]
jobs = {t["scrapePool"]: t for t in d["activeTargets"]}
assert jobs["plain"]["health"] == "up", jobs["plain"]
assert jobs["noauth"]["health"] == "down" and "401" in jobs["noauth"]["lastError"], jobs["noauth"]
assert jobs["many"]["health"] == "down" and "sample limit" in jobs["many"]["lastError"], jobs["many"]
assert jobs["plain"]["labels"]["site"] == "test"
assert any(t["discoveredLabels"].get("__address__") == "drop.me:1" for t in d["droppedTargets"])
' "$WORK/targets.json"

curl -s "$url/federate" --data-urlencode 'match[]={job="plain"}' -G > "$WORK/federate"
expect_grep '^# TYPE fixture_temperature untyped$' "$WORK/federate" "/federate groups by metric name"
expect_grep '^up\{instance="127\.0\.0\.1:[0-9]+",job="plain",site="test"\} 1 [0-9]{13}$' "$WORK/federate" \
  "/federate gives the newest sample with its timestamp"

curl -s "$url/api/v1/metadata" --data-urlencode 'metric=fixture_requests_total' -G > "$WORK/meta.json"
check "/api/v1/metadata has the scraped HELP and TYPE" [ "$(cat "$WORK/meta.json")" = \
  '{"status":"success","data":{"fixture_requests_total":[{"type":"counter","help":"Requests served by the fixture.","unit":""}]}}' ]
curl -s "$url/api/v1/metadata?limit=2" > "$WORK/meta2.json"
check "limit caps the metric names" python3 -c 'import json,sys; d=json.load(open(sys.argv[1]))["data"]; sys.exit(0 if len(d) == 2 else 1)' "$WORK/meta2.json"
curl -s "$url/api/v1/metadata" > "$WORK/meta3.json"
check "OpenMetrics families are there too" python3 -c 'import json,sys; d=json.load(open(sys.argv[1]))["data"]; sys.exit(0 if d["om_events"][0]["type"] == "counter" else 1)' "$WORK/meta3.json"

if [ -n "$nodeexp" ]; then
  expect_value 'up{job="node"}' 1
  q 'count(node_cpu_seconds_total{job="node"}) > 0'
  check "the real node_exporter's CPU counters are stored" [ "$(value_of)" != none ]
  q 'sum(rate(node_cpu_seconds_total{job="node"}[5s])) >= 0'
  check "and rate() works over them" [ "$(value_of)" != none ]
fi

# Reload: a bad file leaves the running configuration; a good one adds a job.
cp "$WORK/promlite.yml" "$WORK/good.yml"
printf 'scrape_configs:\n  - job_name: x\n    scrape_intervall: 1s\n' > "$WORK/promlite.yml"
code=$(curl -s -o "$WORK/reload.out" -w '%{http_code}' -X POST "$url/-/reload")
check "a bad configuration is refused (HTTP $code)" [ "$code" = 500 ]
expect_grep 'promlite.yml:3' "$WORK/reload.out" "the refusal names file and line"
curl -s "$url/metrics" > "$WORK/metrics"
expect_grep '^promlite_config_last_reload_successful 0$' "$WORK/metrics" "the failed reload shows in /metrics"
expect_value 'up{job="plain"}' 1
cp "$WORK/good.yml" "$WORK/promlite.yml"
printf '  - job_name: added\n    static_configs: [{targets: ["127.0.0.1:%s"]}]\n' "$fp" >> "$WORK/promlite.yml"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$url/-/reload")
check "a good configuration reloads (HTTP $code)" [ "$code" = 200 ]
sleep 2.5
expect_value 'up{job="added"}' 1
curl -s "$url/metrics" > "$WORK/metrics"
expect_grep '^promlite_config_last_reload_successful 1$' "$WORK/metrics" "the good reload shows in /metrics"
q 'count_over_time(up{job="plain"}[10s])'
check "the unchanged job kept scraping through the reloads" python3 -c 'import json,sys; v=float(json.load(open(sys.argv[1]))["data"]["result"][0]["value"][1]); sys.exit(0 if v >= 8 else 1)' "$WORK/q.json"

kill -TERM $server
wait $server
check "the server stops cleanly" [ $? -eq 0 ]
server=
finish
