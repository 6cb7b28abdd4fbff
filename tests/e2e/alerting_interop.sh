#!/bin/sh
# alerting_interop.sh - alerting against the real peers from Debian's
# packages: the same rule files through `promtool check rules` and
# `promlite check rules` (same verdicts, same reasons); alerts forwarded to
# a real prometheus-alertmanager appear in its API; amtool manages
# promlite's silences and lists its alerts; a real Prometheus that uses
# promlite as its Alertmanager gets its alerts in.
. "$SRCDIR/tests/e2e/lib.sh"
for t in curl python3 promtool prometheus-alertmanager amtool prometheus; do
  command -v $t >/dev/null 2>&1 || { echo "$t not installed: skipped"; exit 77; }
done
am= server= prom=
trap 'kill $am $server $prom 2>/dev/null; rm -rf "$WORK"' EXIT
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# ---------------------------------------------------------------- check rules
cd "$WORK"
cat > good.yml <<'YML'
groups:
  - name: g
    interval: 30s
    limit: 10
    rules:
      - record: job:up:sum
        expr: sum by (job) (up)
      - alert: InstanceDown
        expr: up == 0
        for: 1m
        keep_firing_for: 2m
        labels: {severity: page}
        annotations:
          summary: '{{ $labels.instance }} down: {{ $value | humanize }} {{ humanizeDuration 90 }}'
YML
cat > bad.yml <<'YML'
groups:
  - name: g
    rules:
      - record: "bad name"
        expr: sum(up
        for: 5m
      - alert: A
        expr: up == 0
        labels:
          __name__: x
        annotations:
          summary: "{{ $labels.foo "
          "bad-a": z
      - expr: up
      - alert: B
        record: c
        expr: up
  - name: g
    rules: []
YML
cat > badtemplate.yml <<'YML'
groups:
  - name: t
    rules:
      - alert: X
        expr: up
        annotations:
          s: "{{ nosuch }}"
YML
cat > unknownkey.yml <<'YML'
groups:
  - name: t
    rules:
      - alert: X
        expr: up
        forr: 5m
YML
promtool check rules good.yml > p.out 2>&1; prc=$?
"$PROMLITE" check rules good.yml > l.out 2>&1; lrc=$?
check "a valid file passes both (promtool $prc, promlite $lrc)" [ $prc = 0 ] && [ $lrc = 0 ]
check "both count the same rules" [ "$(grep SUCCESS p.out)" = "$(grep SUCCESS l.out)" ]
# reasons: promtool writes "FILE: L:C: group ..." and promlite "FILE:L:C: group ...";
# compare what follows the positions.
reasons() { grep -E 'group|Groupname' "$1" | sed -E 's/^[^:]*://; s/^( ?[0-9]+:[0-9]+:)* ?//' | sort; }
for f in bad badtemplate; do
  promtool check rules $f.yml > p.out 2>&1; prc=$?
  "$PROMLITE" check rules $f.yml > l.out 2>&1; lrc=$?
  check "$f.yml fails both (promtool $prc, promlite $lrc)" [ $prc = 1 ] && [ $lrc = 1 ]
  reasons p.out > p.r; reasons l.out > l.r
  check "$f.yml: promlite lists every problem promtool lists, in the same words ($(wc -l < p.r) of them)" \
    sh -c '[ -s p.r ] && diff p.r l.r > /dev/null'
  diff p.r l.r > /dev/null || { echo "# promtool:"; sed 's/^/#   /' p.r; echo "# promlite:"; sed 's/^/#   /' l.r; }
done
promtool check rules unknownkey.yml > p.out 2>&1; prc=$?
"$PROMLITE" check rules unknownkey.yml > l.out 2>&1; lrc=$?
check "an unknown key fails both" [ $prc = 1 ] && [ $lrc = 1 ]
expect_grep 'field forr not found in type rulefmt.RuleNode' p.out "promtool names the key"
expect_grep 'unknownkey.yml:6:9: field forr not found in type rulefmt.RuleNode' l.out "promlite names it with its place"
cd - >/dev/null

# ---------------------------------------------------------------- forwarding to Alertmanager
amp=$(free_port)
cat > "$WORK/am.yml" <<'YML'
route: {receiver: nobody}
receivers: [{name: nobody}]
YML
prometheus-alertmanager --config.file "$WORK/am.yml" --storage.path "$WORK/am" --web.listen-address "127.0.0.1:$amp" \
  --cluster.listen-address= > "$WORK/am.log" 2>&1 &
am=$!
for i in $(seq 100); do curl -sf "http://127.0.0.1:$amp/-/ready" >/dev/null && break; sleep 0.1; done
check "prometheus-alertmanager is up" curl -sf "http://127.0.0.1:$amp/-/ready" -o /dev/null

cat > "$WORK/rules.yml" <<'YML'
groups:
  - name: always
    interval: 1s
    rules:
      - record: job:one
        expr: vector(1)
        labels: {team: a}
      - alert: Always
        expr: vector(1)
        labels: {severity: info}
        annotations: {summary: 'always firing ({{ $value }})'}
YML
sp=$(free_port)
cat > "$WORK/promlite.yml" <<YML
global: {evaluation_interval: 1s, external_labels: {site: interop}}
rule_files: [rules.yml]
alerting:
  alertmanagers:
    - static_configs: [{targets: ['127.0.0.1:$amp']}]
  route: {receiver: nobody, group_wait: 1s}
  receivers: [{name: nobody}]
YML
"$PROMLITE" server --config.file "$WORK/promlite.yml" --storage.tsdb.path "$WORK/d" --web.listen-address "127.0.0.1:$sp" \
  2> "$WORK/server.err" &
server=$!
url=http://127.0.0.1:$sp
for i in $(seq 100); do curl -sf "$url/-/ready" >/dev/null && break; sleep 0.1; done
got=
for i in $(seq 50); do
  curl -s "http://127.0.0.1:$amp/api/v2/alerts" > "$WORK/am.json"
  got=$(python3 -c 'import json,sys; a=json.load(open(sys.argv[1])); print(" ".join(sorted("%s/%s/%s" % (x["labels"].get("alertname"), x["labels"].get("site"), x["annotations"].get("summary")) for x in a)))' "$WORK/am.json")
  [ -n "$got" ] && break
  sleep 0.2
done
check "alerts forwarded to prometheus-alertmanager appear in its API (got: $got)" [ "$got" = "Always/interop/always firing (1)" ]
curl -s "$url/metrics" > "$WORK/metrics.txt"
expect_grep "prometheus_notifications_sent_total\\{alertmanager=\"http://127.0.0.1:$amp/api/v2/alerts\"\\} [1-9]" "$WORK/metrics.txt" \
  "the forwarder counts what it sent"

# ---------------------------------------------------------------- amtool against promlite
at="amtool --alertmanager.url=$url"
for i in $(seq 25); do $at alert query alertname=Always > "$WORK/aq.txt" 2>> "$WORK/amtool.err"; grep -q Always "$WORK/aq.txt" && break; sleep 0.2; done
expect_grep 'Always +.* +always firing \(1\) +active' "$WORK/aq.txt" "amtool alert query with a matcher prints the alert"
id=$($at silence add alertname=Always severity=info -c "interop test" -a e2e -d 1h 2> "$WORK/amtool.err")
check "amtool silence add creates a silence (id $id)" [ ${#id} -eq 36 ]
$at silence query -o json > "$WORK/sq.json" 2>> "$WORK/amtool.err"
check "amtool silence query lists it" python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); sys.exit(0 if any(x["id"] == sys.argv[2] and x["status"]["state"] == "active" and x["createdBy"] == "e2e" for x in s) else 1)' "$WORK/sq.json" "$id"
$at silence query -q > "$WORK/sq.txt" 2>> "$WORK/amtool.err"
check "amtool silence query -q prints its id" grep -qx "$id" "$WORK/sq.txt"
for i in $(seq 25); do $at alert query -s -o json > "$WORK/aq.json" 2>> "$WORK/amtool.err"; grep -q silencedBy.*"$id" "$WORK/aq.json" && break; sleep 0.2; done
check "amtool alert query -s shows the alert, silenced" python3 -c 'import json,sys; a=json.load(open(sys.argv[1])); sys.exit(0 if any(x["labels"]["alertname"] == "Always" and x["status"]["silencedBy"] == [sys.argv[2]] for x in a) else 1)' "$WORK/aq.json" "$id"
$at alert query > "$WORK/aq.txt" 2>> "$WORK/amtool.err"
check "amtool alert query leaves silenced alerts out by default" sh -c "! grep -q Always '$WORK/aq.txt'"
check "amtool silence expire" $at silence expire "$id"
$at silence query -o json --expired > "$WORK/sq.json" 2>> "$WORK/amtool.err"
check "amtool sees it expired" python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); sys.exit(0 if any(x["id"] == sys.argv[2] and x["status"]["state"] == "expired" for x in s) else 1)' "$WORK/sq.json" "$id"
check "amtool printed no error" [ ! -s "$WORK/amtool.err" ]
[ -s "$WORK/amtool.err" ] && sed 's/^/# /' "$WORK/amtool.err"

# ---------------------------------------------------------------- Prometheus -> promlite
pp=$(free_port)
cat > "$WORK/prom-rules.yml" <<'YML'
groups:
  - name: p
    interval: 1s
    rules:
      - record: job:one
        expr: vector(1)
        labels: {team: a}
      - alert: FromPrometheus
        expr: vector(2)
        labels: {severity: info}
        annotations: {summary: 'x'}
YML
cat > "$WORK/prom.yml" <<YML
global: {evaluation_interval: 1s}
rule_files: [prom-rules.yml]
alerting:
  alertmanagers:
    - static_configs: [{targets: ['127.0.0.1:$sp']}]
YML
prometheus --config.file "$WORK/prom.yml" --storage.tsdb.path "$WORK/prom" --web.listen-address "127.0.0.1:$pp" \
  --rules.alert.resend-delay=1s > "$WORK/prom.log" 2>&1 &
prom=$!
ok=
for i in $(seq 75); do
  curl -s "$url/api/v2/alerts?filter=alertname=%22FromPrometheus%22" > "$WORK/pa.json"
  grep -q FromPrometheus "$WORK/pa.json" && ok=1 && break
  sleep 0.2
done
check "a real Prometheus delivers its alerts to promlite's /api/v2/alerts" [ -n "$ok" ]
# The rules and alerts APIs: the same objects with the same keys, in the
# same order, as Prometheus 2.42 writes them.
for i in $(seq 50); do
  curl -s "http://127.0.0.1:$pp/api/v1/rules" > "$WORK/prom-rules.json"
  grep -q '"state":"firing"' "$WORK/prom-rules.json" && break
  sleep 0.2
done
curl -s "$url/api/v1/rules" > "$WORK/our-rules.json"
curl -s "http://127.0.0.1:$pp/api/v1/alerts" > "$WORK/prom-alerts.json"
curl -s "$url/api/v1/alerts" > "$WORK/our-alerts.json"
shape() {
  python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
if "groups" in r["data"]:
    g = r["data"]["groups"][0]
    rec = [x for x in g["rules"] if x["type"] == "recording"][0]
    al = [x for x in g["rules"] if x["type"] == "alerting"][0]
    print("group", list(g), "recording", list(rec), "alerting", list(al), "alert", list(al["alerts"][0]),
          [type(al[k]).__name__ for k in al], al["health"], al["state"], rec["health"])
else:
    print(list(r["data"]), list(r["data"]["alerts"][0]), r["data"]["alerts"][0]["value"])' "$1"
}
check "/api/v1/rules has Prometheus's shape ($(shape "$WORK/our-rules.json"))" [ "$(shape "$WORK/prom-rules.json")" = "$(shape "$WORK/our-rules.json")" ]
[ "$(shape "$WORK/prom-rules.json")" = "$(shape "$WORK/our-rules.json")" ] || echo "# prometheus: $(shape "$WORK/prom-rules.json")"
pa=$(shape "$WORK/prom-alerts.json" | sed 's/2e+00/V/'); la=$(shape "$WORK/our-alerts.json" | sed 's/1e+00/V/')
check "/api/v1/alerts has Prometheus's shape ($la)" [ "$pa" = "$la" ]
kill $prom $server $am 2>/dev/null; wait $prom $server $am 2>/dev/null
prom= server= am=
finish
