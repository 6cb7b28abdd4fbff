#!/bin/sh
# alerting.sh - alerting end to end with the real binary: a scraped fixture
# target goes down, the alert goes pending then firing after `for`, a
# silence keeps the webhook quiet until it is expired, then the webhook
# gets exactly one notification with Alertmanager's payload; promlite is
# killed with SIGKILL and restarted (no duplicate); the receiver fails
# while the target comes back, promlite is killed again with the resolved
# notification still owed, and after the restart it arrives, once.
. "$SRCDIR/tests/e2e/lib.sh"
for t in curl python3; do command -v $t >/dev/null 2>&1 || { echo "$t not installed: skipped"; exit 77; }; done
target= server= hook=
trap 'kill $target $server $hook 2>/dev/null; rm -rf "$WORK"' EXIT
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_ready() { for i in $(seq 100); do grep -q ready "$1" 2>/dev/null && return 0; sleep 0.1; done; return 1; }

tp=$(free_port)
start_target() {
  python3 "$SRCDIR/tests/fixtures/targets.py" "$tp" > "$WORK/target.out" 2>&1 &
  target=$!
  wait_ready "$WORK/target.out"
}
start_target
python3 "$SRCDIR/tests/fixtures/webhook.py" "$WORK/hook.jsonl" > "$WORK/hook.out" 2>&1 &
hook=$!
wait_ready "$WORK/hook.out"
hp=$(head -1 "$WORK/hook.out")
check "the fixture target and the webhook receiver are up" [ -n "$hp" ]

cat > "$WORK/rules.yml" <<'YML'
groups:
  - name: availability
    interval: 1s
    rules:
      - record: job:up:sum
        expr: sum by (job) (up)
      - alert: TargetDown
        expr: up{job="fx"} == 0 and on (job) job:up:sum == 0
        for: 2s
        labels:
          severity: page
        annotations:
          summary: '{{ $labels.instance }} of job {{ $labels.job }} is down'
YML
cat > "$WORK/promlite.yml" <<YML
global:
  scrape_interval: 1s
  scrape_timeout: 500ms
  evaluation_interval: 1s
  external_labels: {site: e2e}
rule_files: [rules.yml]
scrape_configs:
  - job_name: fx
    static_configs: [{targets: ['127.0.0.1:$tp']}]
alerting:
  route:
    receiver: hook
    group_by: [alertname]
    group_wait: 1s
    group_interval: 2s
    repeat_interval: 1h
  receivers:
    - name: hook
      webhook_configs:
        - url: 'http://127.0.0.1:$hp/alert'
YML
sp=$(free_port)
url=http://127.0.0.1:$sp
start_server() {
  "$PROMLITE" server --config.file "$WORK/promlite.yml" --storage.tsdb.path "$WORK/d" --web.listen-address "127.0.0.1:$sp" \
    --web.external-url http://promlite.test:9090/ 2>> "$WORK/server.err" &
  server=$!
  for i in $(seq 100); do curl -sf "$url/-/ready" >/dev/null && return 0; sleep 0.1; done
  return 1
}
check "promlite starts with rules and a receiver" start_server
hook_count() { curl -s "http://127.0.0.1:$hp/count"; }
# py EXPR: evaluates a Python expression over j (the JSON in $WORK/j.json)
# and the notifications n (a list of the recorded bodies).
py() {
  python3 -c '
import json, sys
j = json.load(open(sys.argv[1])) if sys.argv[1] else None
try:
    n = [json.loads(l) for l in open(sys.argv[2])]
except FileNotFoundError:
    n = []
print(eval(sys.argv[3]))' "${J:-}" "$WORK/hook.jsonl" "$1"
}
get() { curl -s "$url$1" > "$WORK/j.json"; J=$WORK/j.json; }
# until_true SECONDS EXPR-over-GET-PATH: polls until py prints True.
until_true() {
  local n=$(( $1 * 5 )) path=$2 expr=$3
  for i in $(seq $n); do get "$path"; [ "$(py "$expr")" = True ] && return 0; sleep 0.2; done
  return 1
}

for i in $(seq 50); do get "/api/v1/query?query=up"; [ "$(py 'len(j["data"]["result"])')" = 1 ] && break; sleep 0.2; done
check "the target is scraped (up = 1)" [ "$(py 'j["data"]["result"][0]["value"][1]')" = 1 ]

# A silence for the alert, made before it fires.
now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
later=$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%SZ)
curl -s -X POST -H 'Content-Type: application/json' "$url/api/v2/silences" \
  -d "{\"matchers\":[{\"name\":\"alertname\",\"value\":\"TargetDown\",\"isRegex\":false,\"isEqual\":true}],\"startsAt\":\"$now\",\"endsAt\":\"$later\",\"createdBy\":\"e2e\",\"comment\":\"maintenance\"}" \
  > "$WORK/j.json"
J=$WORK/j.json
sid=$(py 'j["silenceID"]')
check "a silence is created over /api/v2/silences" [ ${#sid} -eq 36 ]

kill $target; wait $target 2>/dev/null
check "the alert goes pending first" until_true 10 /api/v1/alerts \
  'any(a["state"] == "pending" and a["labels"]["alertname"] == "TargetDown" for a in j["data"]["alerts"])'
check "then firing after for" until_true 10 /api/v1/alerts \
  'any(a["state"] == "firing" for a in j["data"]["alerts"])'
get "/api/v1/rules"
check "/api/v1/rules shows the rule firing" [ "$(py '[r["state"] for g in j["data"]["groups"] for r in g["rules"] if r["type"] == "alerting"]')" = "['firing']" ]
get "/api/v1/query?query=ALERTS"
check "the ALERTS series is written" [ "$(py 'j["data"]["result"][0]["metric"]["alertstate"]')" = firing ]
check "/api/v2/alerts lists it as silenced" until_true 5 /api/v2/alerts \
  'len(j) == 1 and j[0]["status"]["state"] == "suppressed" and j[0]["status"]["silencedBy"] == ["'"$sid"'"] and j[0]["receivers"] == [{"name": "hook"}]'
sleep 4
check "the silence keeps the webhook quiet" [ "$(hook_count)" = 0 ]

code=$(curl -s -o /dev/null -w '%{http_code}' -X DELETE "$url/api/v2/silence/$sid")
check "the silence is expired over DELETE /api/v2/silence/ID" [ "$code" = 200 ]
for i in $(seq 40); do [ "$(hook_count)" -ge 1 ] && break; sleep 0.2; done
check "the webhook gets one notification" [ "$(hook_count)" = 1 ]
J=
check "its payload is Alertmanager's webhook JSON" [ "$(py 'n[0]["version"] == "4" and n[0]["status"] == "firing" and n[0]["receiver"] == "hook" and n[0]["groupKey"] == "{}:{alertname=\"TargetDown\"}" and n[0]["groupLabels"] == {"alertname": "TargetDown"} and n[0]["externalURL"] == "http://promlite.test:9090" and n[0]["truncatedAlerts"] == 0 and n[0]["_path"] == "/alert"')" = True ]
check "with the alert's labels, annotations and times" [ "$(py 'len(n[0]["alerts"]) == 1 and n[0]["alerts"][0]["labels"] == {"alertname": "TargetDown", "instance": "127.0.0.1:'"$tp"'", "job": "fx", "severity": "page", "site": "e2e"} and n[0]["alerts"][0]["annotations"] == {"summary": "127.0.0.1:'"$tp"' of job fx is down"} and n[0]["alerts"][0]["status"] == "firing" and n[0]["alerts"][0]["endsAt"] == "0001-01-01T00:00:00Z" and n[0]["alerts"][0]["generatorURL"].startswith("http://promlite.test:9090/graph?g0.expr=") and len(n[0]["alerts"][0]["fingerprint"]) == 16')" = True ]

# SIGKILL in the middle: the notification log and the silence survive.
kill -9 $server; wait $server 2>/dev/null
check "promlite restarts after SIGKILL" start_server
sleep 6
check "no duplicate notification after the restart (repeat_interval 1h)" [ "$(hook_count)" = 1 ]
get "/api/v2/silences"
check "the expired silence is still known" [ "$(py '[s["status"]["state"] for s in j if s["id"] == "'"$sid"'"]')" = "['expired']" ]
check "the alert is firing again" until_true 10 /api/v1/alerts 'any(a["state"] == "firing" for a in j["data"]["alerts"])'

# A reload with the same rules keeps the group and its alert's state.
get /api/v1/alerts
before=$(py '[a["activeAt"] for a in j["data"]["alerts"] if a["state"] == "firing"]')
kill -HUP $server
for i in $(seq 50); do grep -q "reloaded" "$WORK/server.err" && break; sleep 0.1; done
sleep 2
get /api/v1/alerts
after=$(py '[a["activeAt"] for a in j["data"]["alerts"] if a["state"] == "firing"]')
check "a reload keeps the firing alert and its activeAt ($before)" [ "$before" = "$after" ] && [ "$before" != "[]" ]
check "and sends nothing new" [ "$(hook_count)" = 1 ]

# The receiver fails while the target comes back: the resolution is owed.
touch "$WORK/hook.jsonl.fail"
start_target
check "the alert resolves" until_true 15 /api/v2/alerts 'len(j) == 0'
for i in $(seq 50); do
  curl -s "$url/metrics" > "$WORK/metrics.txt"
  grep -q 'promlite_notifications_failed_total{integration="webhook",receiver="hook"} [1-9]' "$WORK/metrics.txt" && break
  sleep 0.2
done
expect_grep 'promlite_notifications_failed_total\{integration="webhook",receiver="hook"\} [1-9]' "$WORK/metrics.txt" \
  "failed attempts are counted per receiver"
kill -9 $server; wait $server 2>/dev/null
rm -f "$WORK/hook.jsonl.fail"
check "promlite restarts with the resolution still owed" start_server
for i in $(seq 60); do [ "$(hook_count)" -ge 2 ] && break; sleep 0.2; done
sleep 3
check "the resolved notification arrives exactly once" [ "$(hook_count)" = 2 ]
J=
check "it says resolved, with the end time" [ "$(py 'n[1]["status"] == "resolved" and n[1]["alerts"][0]["status"] == "resolved" and n[1]["alerts"][0]["endsAt"] != "0001-01-01T00:00:00Z" and n[1]["alerts"][0]["fingerprint"] == n[0]["alerts"][0]["fingerprint"]')" = True ]
curl -s "$url/metrics" > "$WORK/metrics.txt"
expect_grep 'promlite_notifications_total\{integration="webhook",receiver="hook"\} [1-9]' "$WORK/metrics.txt" \
  "notifications are counted per receiver"
expect_grep 'promlite_notification_latency_seconds_count\{integration="webhook",receiver="hook"\} [1-9]' "$WORK/metrics.txt" \
  "and their latency"
kill $server; wait $server 2>/dev/null
server=
check "the server log names no unexpected error" [ "$(grep -c 'AddressSanitizer\|runtime error' "$WORK/server.err")" = 0 ]
finish
