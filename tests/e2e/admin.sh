#!/bin/sh
# admin.sh - the target management API of `promlite server` end to end
# (/api/v1/admin/jobs, /api/v1/admin/targets, /api/v1/admin/register):
#   * rights: no credentials 401, a read token 403, an admin token works;
#   * jobs: list (sorted), create (201), conflicts with a managed job and
#     with a job of the configuration file (409), bad names and bad scrape
#     settings (400 with the config loader's words), invalid JSON (400 with
#     line and column), GET/PUT (create 201, replace 200)/DELETE, 404 for an
#     unknown job, 409 when deleting a job that has targets, ?cascade=true;
#     passwords shown as "<secret>";
#   * targets: create (201, a UUID id), ?job= filter, GET/PUT/DELETE, a job
#     of the configuration file, unknown job, bad address, bad label name;
#   * register: new id 201, known id 200, the same again changes nothing;
#   * "created"/"updated" are RFC 3339 and behave on replace;
#   * changes apply without a reload: new targets are scraped within their
#     interval with their labels, __meta_promlite_hostname and
#     __meta_promlite_target_id reach relabel_configs, a deleted target's
#     `up` is gone right after the DELETE (staleness markers), basic auth
#     and bearer authorization in a managed job's settings (promlite
#     scraping itself);
#   * promlite_managed_jobs / promlite_managed_targets in /metrics;
#   * a reload keeps the managed records; a file that defines a job named
#     like a managed one fails the reload (500) and keeps the running set;
#   * the records survive a restart (SIGTERM, same data folder) and are
#     scraped again.
. "$SRCDIR/tests/e2e/lib.sh"
for t in curl python3; do command -v $t >/dev/null 2>&1 || { echo "$t not installed: skipped"; exit 77; }; done
server= fixture=
trap 'kill $fixture $server 2>/dev/null; rm -rf "$WORK"' EXIT
trap 'exit 2' HUP INT TERM
python3 "$SRCDIR/tests/fixtures/targets.py" > "$WORK/fixture.out" 2>&1 &
fixture=$!
for i in $(seq 50); do grep -q ready "$WORK/fixture.out" 2>/dev/null && break; sleep 0.1; done
fp=$(head -1 "$WORK/fixture.out")
check "the fixture targets are up" [ -n "$fp" ]
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
sp=$(free_port)
url=http://127.0.0.1:$sp

cat > "$WORK/web.yml" <<'YML'
bearer_tokens:
  - {token: reader-token, role: read}
  - {token: admin-token, role: admin}
YML
cat > "$WORK/base.yml" <<YML
global:
  scrape_interval: 1s
  scrape_timeout: 800ms
scrape_configs:
  - job_name: filejob
YML
cp "$WORK/base.yml" "$WORK/promlite.yml"

# start LOGFILE: starts the server on $sp with the data folder $WORK/d.
start() {
  "$PROMLITE" server --config.file "$WORK/promlite.yml" --storage.tsdb.path "$WORK/d" --web.listen-address "127.0.0.1:$sp" \
    --web.enable-lifecycle --web.config.file "$WORK/web.yml" 2> "$1" &
  server=$!
  for i in $(seq 100); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer reader-token' "$url/-/ready")" = 200 ] && return 0
    kill -0 $server 2>/dev/null || break
    sleep 0.1
  done
  return 1
}
# stop: SIGTERM, up to 10 s to exit, then SIGKILL (and a failure).
stop() {
  kill -TERM $server
  for i in $(seq 100); do kill -0 $server 2>/dev/null || break; sleep 0.1; done
  kill -0 $server 2>/dev/null && { echo "# the server ignored SIGTERM for 10 s"; kill -KILL $server; }
  wait $server
  rc=$?
  server=
  return $rc
}
if start "$WORK/server.err"; then ok "the server starts"
else not_ok "the server starts (stderr: $(head -c 500 "$WORK/server.err"))"; finish; fi

ADMIN='Authorization: Bearer admin-token'
READ='Authorization: Bearer reader-token'
# req METHOD PATH [BODY]: an admin request; the answer in $WORK/body, the status in $code.
req() {
  m=$1 p=$2; shift 2
  if [ $# -gt 0 ]; then
    code=$(curl -s -o "$WORK/body" -w '%{http_code}' -X "$m" -H "$ADMIN" -H 'Content-Type: application/json' \
      --data-binary "$1" "$url$p")
  else
    code=$(curl -s -o "$WORK/body" -w '%{http_code}' -X "$m" -H "$ADMIN" "$url$p")
  fi
}
body() { head -c 400 "$WORK/body"; }
# expect_code DESCRIPTION CODE: the status of the last req.
expect_code() {
  if [ "$code" = "$2" ]; then ok "$1 (HTTP $2)"; else not_ok "$1 (HTTP $code, want $2; answer: $(body))"; fi
}
# jcheck DESCRIPTION PYTHON-EXPRESSION: the expression, over the answer
# b = the whole JSON, d = its "data", must be true.  Helpers: rfc3339(s),
# is_uuid(s), err (the error message), et (the errorType).
PYPRE='
import json, re, sys
def rfc3339(s): return isinstance(s, str) and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)", s) is not None
def ts(s):
    from datetime import datetime
    return datetime.fromisoformat(s.replace("Z", "+00:00"))
def is_uuid(s): return isinstance(s, str) and re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", s) is not None
b = json.load(open(sys.argv[1]))
d = b.get("data") if isinstance(b, dict) else None
err = b.get("error", "") if isinstance(b, dict) else ""
et = b.get("errorType") if isinstance(b, dict) else None
'
jcheck() {
  if python3 -c "$PYPRE
sys.exit(0 if ($2) else 1)" "$WORK/body" 2> "$WORK/pyerr"; then ok "$1"
  else not_ok "$1 (want $2; $(tail -1 "$WORK/pyerr") answer: $(body))"; fi
}
# jget PYTHON-EXPRESSION: prints the expression over the last answer.
jget() { python3 -c "$PYPRE
print($1)" "$WORK/body" 2>/dev/null; }
# expect_error DESCRIPTION CODE ERRORTYPE TEXT: an error envelope whose message contains TEXT.
expect_error() {
  expect_code "$1" "$2"
  jcheck "$1: $3 error naming '$4'" "b['status'] == 'error' and et == '$3' and $(python3 -c 'import sys; print(repr(sys.argv[1]))' "$4") in err"
}

q() { curl -s -H "$READ" "$url/api/v1/query" --data-urlencode "query=$1" > "$WORK/q.json"; }
value_of() { python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["data"]["result"]; print(" ".join(sorted(x["value"][1] for x in r)) if r else "none")' "$WORK/q.json" 2>/dev/null || echo "error: $(head -c 300 "$WORK/q.json")"; }
# wait_value QUERY WANT [TENTHS]: polls until the query answers WANT (default 5 s).
wait_value() {
  for i in $(seq "${3:-50}"); do q "$1"; got=$(value_of); [ "$got" = "$2" ] && break; sleep 0.1; done
  check "$1 = $2 (got $got)" [ "$got" = "$2" ]
}
expect_value() { q "$1"; got=$(value_of); check "$1 = $2 (got $got)" [ "$got" = "$2" ]; }
now() { python3 -c 'import time; print("%.3f" % time.time())'; }
metrics() { curl -s -H "$READ" "$url/metrics" > "$WORK/metrics"; }

# ---------------------------------------------------------------- rights
code=$(curl -s -o "$WORK/body" -w '%{http_code}' "$url/api/v1/admin/jobs")
expect_code "no credentials on the admin API" 401
code=$(curl -s -o "$WORK/body" -w '%{http_code}' -H "$READ" "$url/api/v1/admin/jobs")
expect_code "a read token on GET /api/v1/admin/jobs" 403
code=$(curl -s -o "$WORK/body" -w '%{http_code}' -H "$READ" -X POST --data-binary '{"name":"sneaky"}' "$url/api/v1/admin/jobs")
expect_code "a read token on POST /api/v1/admin/jobs" 403
code=$(curl -s -o "$WORK/body" -w '%{http_code}' -H "$READ" "$url/api/v1/admin/targets")
expect_code "a read token on GET /api/v1/admin/targets" 403
# Alertmanager's API: reading takes read rights, changing silences admin rights.
code=$(curl -s -o "$WORK/body" -w '%{http_code}' -H "$READ" "$url/api/v2/silences")
expect_code "a read token lists silences (GET /api/v2/silences)" 200
silence='{"matchers":[{"name":"a","value":"b","isRegex":false,"isEqual":true}],"startsAt":"2030-01-01T00:00:00Z","endsAt":"2030-01-02T00:00:00Z","createdBy":"t","comment":"c"}'
code=$(curl -s -o "$WORK/body" -w '%{http_code}' -H "$READ" -X POST -H 'Content-Type: application/json' --data-binary "$silence" "$url/api/v2/silences")
expect_code "a read token on POST /api/v2/silences" 403
code=$(curl -s -o "$WORK/body" -w '%{http_code}' -H "$ADMIN" -X POST -H 'Content-Type: application/json' --data-binary "$silence" "$url/api/v2/silences")
expect_code "an admin token creates a silence" 200
code=$(curl -s -o "$WORK/body" -w '%{http_code}' -X POST --data-binary '[]' "$url/api/v2/alerts")
expect_code "no credentials on POST /api/v2/alerts" 401
req GET /api/v1/admin/jobs
expect_code "an admin token lists the jobs" 200
jcheck "no managed jobs at first" "b == {'status': 'success', 'data': []}"
req GET /api/v1/admin/targets
jcheck "no managed targets at first" "b == {'status': 'success', 'data': []}"

# ---------------------------------------------------------------- jobs
req POST /api/v1/admin/jobs '{"name":"fixture","note":"the fixture","scrape":{"scrape_interval":"1s","metrics_path":"/metrics",
  "relabel_configs":[{"source_labels":["__meta_promlite_hostname"],"target_label":"hostname"},
                     {"source_labels":["__meta_promlite_target_id"],"target_label":"target_id"}]}}'
expect_code "create job fixture" 201
jcheck "the answer is the new job" "b['status'] == 'success' and d['name'] == 'fixture' and d['note'] == 'the fixture' and d['scrape']['scrape_interval'] == '1s' and d['scrape']['metrics_path'] == '/metrics'"
jcheck "the job has RFC 3339 created and updated times, equal at first" "rfc3339(d['created']) and rfc3339(d['updated']) and d['created'] == d['updated']"
req POST /api/v1/admin/jobs '{"name":"authjob","scrape":{"metrics_path":"/auth","basic_auth":{"username":"scraper","password":"s3cret"}}}'
expect_code "create job authjob with basic auth" 201
jcheck "its password shows as <secret>" "d['scrape']['basic_auth'] == {'username': 'scraper', 'password': '<secret>'}"
req GET /api/v1/admin/jobs/authjob
expect_code "GET jobs/authjob" 200
jcheck "GET shows the password as <secret>" "d['name'] == 'authjob' and d['scrape']['basic_auth']['password'] == '<secret>'"
check "the password appears nowhere in the answer" sh -c '! grep -q s3cret "$1"' sh "$WORK/body"
req POST /api/v1/admin/jobs "{\"name\":\"self\",\"note\":\"promlite scrapes itself\",\"scrape\":{\"authorization\":{\"credentials\":\"reader-token\"}}}"
expect_code "create job self (bearer authorization)" 201
jcheck "its credentials show as <secret> too" "d['scrape']['authorization']['credentials'] == '<secret>'"
req POST /api/v1/admin/jobs '{"name":"fixture","scrape":{}}'
expect_error "create job fixture again" 409 conflict fixture
req POST /api/v1/admin/jobs '{"name":"filejob"}'
expect_error "create a job named like a job of the configuration file" 409 conflict filejob
req PUT /api/v1/admin/jobs/filejob '{"name":"filejob"}'
expect_code "PUT a job named like a job of the configuration file" 409
for name in 9lives a-b 'has space' ''; do
  req POST /api/v1/admin/jobs "{\"name\":\"$name\"}"
  expect_code "job name '$name' is refused" 400
  jcheck "job name '$name': bad_data" "et == 'bad_data'"
done
req POST /api/v1/admin/jobs '{"name":"x1","scrape":{"foo":1}}'
expect_error "an unknown scrape setting" 400 bad_data 'scrape: field foo not found in type config.ScrapeConfig'
req POST /api/v1/admin/jobs '{"name":"x2","scrape":{"scrape_interval":"2x"}}'
expect_error "a bad scrape_interval" 400 bad_data 'not a valid duration string'
req POST /api/v1/admin/jobs '{"name": "x3",
  "note": }'
expect_code "invalid JSON for a job" 400
jcheck "the JSON error gives line and column" "et == 'bad_data' and 'invalid JSON at line 2, column 11' in err"
req GET /api/v1/admin/jobs/x1
expect_code "refused jobs were not created" 404
req GET /api/v1/admin/jobs/nosuch
expect_code "GET an unknown job" 404
jcheck "its errorType is not_found" "b['status'] == 'error' and et == 'not_found'"
req DELETE /api/v1/admin/jobs/nosuch
expect_code "DELETE an unknown job" 404
req PUT /api/v1/admin/jobs/beta '{"name":"beta","note":"first","scrape":{"scrape_interval":"2s"}}'
expect_code "PUT a new job beta creates it" 201
beta_created=$(jget "d['created']")
sleep 0.05
req PUT /api/v1/admin/jobs/beta '{"name":"beta","note":"second","scrape":{"scrape_interval":"3s"}}'
expect_code "PUT beta again replaces it" 200
jcheck "the replacement is stored, created kept, updated moved on" "d['note'] == 'second' and d['scrape'] == {'scrape_interval': '3s'} and d['created'] == '$beta_created' and ts(d['updated']) > ts(d['created']) and rfc3339(d['updated'])"
req GET /api/v1/admin/jobs/beta
jcheck "GET beta shows the replacement" "d['note'] == 'second' and d['scrape']['scrape_interval'] == '3s'"
req PUT /api/v1/admin/jobs/_ok_9 '{"name":"_ok_9"}'
expect_code "PUT job _ok_9 (a valid name)" 201
req DELETE /api/v1/admin/jobs/_ok_9
expect_code "DELETE a job without targets" 200
req GET /api/v1/admin/jobs/_ok_9
expect_code "the deleted job is gone" 404
req POST /api/v1/admin/jobs '{"name":"doomed","scrape":{"scrape_interval":"1s"}}'
expect_code "create job doomed" 201
req GET /api/v1/admin/jobs
jcheck "GET jobs lists the managed jobs sorted by name" "[j['name'] for j in d] == ['authjob', 'beta', 'doomed', 'fixture', 'self']"
jcheck "every listed job has created and updated" "all(rfc3339(j['created']) and rfc3339(j['updated']) for j in d)"

# ---------------------------------------------------------------- targets
req POST /api/v1/admin/targets "{\"job\":\"fixture\",\"address\":\"127.0.0.1:$fp\",\"labels\":{\"team\":\"a\"},\"note\":\"first\",\"hostname\":\"host-a\"}"
expect_code "create a target in job fixture" 201
jcheck "the server gives it a UUID and echoes its fields" "is_uuid(d['id']) and d['job'] == 'fixture' and d['address'] == '127.0.0.1:$fp' and d['labels'] == {'team': 'a'} and d['note'] == 'first' and d['hostname'] == 'host-a'"
jcheck "the target has RFC 3339 created and updated times" "rfc3339(d['created']) and rfc3339(d['updated'])"
t1=$(jget "d['id']")
req POST /api/v1/admin/targets "{\"job\":\"authjob\",\"address\":\"127.0.0.1:$fp\",\"hostname\":\"host-b\"}"
expect_code "create a target in job authjob" 201
t2=$(jget "d['id']")
req POST /api/v1/admin/targets "{\"job\":\"self\",\"address\":\"127.0.0.1:$sp\"}"
expect_code "create a target in job self (promlite itself)" 201
t3=$(jget "d['id']")
req POST /api/v1/admin/targets "{\"job\":\"filejob\",\"address\":\"127.0.0.1:$fp\",\"labels\":{\"origin\":\"managed\"}}"
expect_code "create a target in job filejob of the configuration file" 201
t4=$(jget "d['id']")
check "the four ids are UUIDs and differ" python3 -c '
import re, sys
assert all(re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", i) for i in sys.argv[1:]), sys.argv
assert len(set(sys.argv[1:])) == 4, sys.argv' "$t1" "$t2" "$t3" "$t4"
req POST /api/v1/admin/targets '{"job":"nosuch","address":"127.0.0.1:1"}'
expect_error "a target of an unknown job" 400 bad_data 'job "nosuch" does not exist'
req POST /api/v1/admin/targets '{"job":"fixture","address":"http://x/y"}'
expect_error "a bad address" 400 bad_data 'is not a valid hostname'
req POST /api/v1/admin/targets '{"job":"fixture","address":"127.0.0.1:1","labels":{"0bad":"v"}}'
expect_code "a bad label name" 400
jcheck "the bad label name: bad_data naming it" "et == 'bad_data' and '0bad' in err"
req POST /api/v1/admin/targets '{"job":"fixture",
  "address": "127.0.0.1:1",,}'
expect_code "invalid JSON for a target" 400
jcheck "the JSON error gives line and column" "et == 'bad_data' and 'invalid JSON at line 2, column 28' in err"
req GET /api/v1/admin/targets
jcheck "refused targets were not created: 4 targets" "len(d) == 4 and sorted(t['id'] for t in d) == sorted(['$t1', '$t2', '$t3', '$t4'])"
req GET "/api/v1/admin/targets?job=fixture"
expect_code "GET targets?job=fixture" 200
jcheck "?job= lists only that job's targets" "[t['id'] for t in d] == ['$t1']"
req GET "/api/v1/admin/targets?job=filejob"
jcheck "?job= works for a job of the configuration file" "[t['id'] for t in d] == ['$t4'] and d[0]['labels'] == {'origin': 'managed'}"
req GET "/api/v1/admin/targets/$t1"
expect_code "GET targets/ID" 200
jcheck "GET targets/ID shows the record" "d['id'] == '$t1' and d['hostname'] == 'host-a' and d['labels'] == {'team': 'a'}"
t1_created=$(jget "d['created']")
req GET /api/v1/admin/targets/00000000-0000-4000-8000-000000000000
expect_code "GET an unknown target" 404
req DELETE /api/v1/admin/targets/00000000-0000-4000-8000-000000000000
expect_code "DELETE an unknown target" 404
sleep 0.05
req PUT "/api/v1/admin/targets/$t1" "{\"job\":\"fixture\",\"address\":\"127.0.0.1:$fp\",\"labels\":{\"team\":\"a\",\"tier\":\"1\"},\"note\":\"replaced\",\"hostname\":\"host-a\"}"
expect_code "PUT targets/ID replaces a target" 200
jcheck "the replacement is stored, created kept, updated moved on" "d['id'] == '$t1' and d['labels'] == {'team': 'a', 'tier': '1'} and d['note'] == 'replaced' and d['created'] == '$t1_created' and ts(d['updated']) > ts(d['created'])"
t5=$(python3 -c 'import uuid; print(uuid.uuid4())')
req PUT "/api/v1/admin/targets/$t5" "{\"job\":\"fixture\",\"address\":\"127.0.0.1:$fp\",\"labels\":{\"team\":\"put\"},\"hostname\":\"host-p\"}"
expect_code "PUT targets/NEWID creates a target" 201
jcheck "with the id of the path" "d['id'] == '$t5' and d['labels'] == {'team': 'put'}"
for a in "127.0.0.1:$fp" "localhost:$fp"; do
  req POST /api/v1/admin/targets "{\"job\":\"doomed\",\"address\":\"$a\"}"
  expect_code "create target $a in job doomed" 201
done

# ---------------------------------------------------------------- register
r1=$(python3 -c 'import uuid; print(uuid.uuid4())')
reg="{\"id\":\"$r1\",\"hostname\":\"host-r\",\"address\":\"localhost:$fp\",\"job\":\"fixture\",\"labels\":{\"team\":\"r\"}}"
req POST /api/v1/admin/register "$reg"
expect_code "register a new id" 201
jcheck "the registered target is the record" "d['id'] == '$r1' and d['hostname'] == 'host-r' and d['address'] == 'localhost:$fp' and d['job'] == 'fixture' and d['labels'] == {'team': 'r'} and rfc3339(d['created'])"
cp "$WORK/body" "$WORK/reg1.json"
sleep 0.05
req POST /api/v1/admin/register "$reg"
expect_code "register the same again" 200
r1_updated=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["data"]["updated"])' "$WORK/reg1.json")
jcheck "registering the same again changes nothing (updated stays)" "d == json.load(open('$WORK/reg1.json'))['data'] and d['updated'] == '$r1_updated'"
req GET "/api/v1/admin/targets/$r1"
jcheck "GET shows the registered target unchanged" "d['updated'] == '$r1_updated' and d['hostname'] == 'host-r'"
req POST /api/v1/admin/register "{\"id\":\"$r1\",\"hostname\":\"host-r2\",\"address\":\"localhost:$fp\",\"job\":\"fixture\",\"labels\":{\"team\":\"r\"}}"
expect_code "register a known id with a new hostname" 200
jcheck "the known id is updated" "d['id'] == '$r1' and d['hostname'] == 'host-r2' and ts(d['updated']) > ts('$r1_updated') and d['created'] == json.load(open('$WORK/reg1.json'))['data']['created']"
req GET "/api/v1/admin/targets?job=fixture"
jcheck "job fixture has 3 targets (no duplicate from registering)" "sorted(t['id'] for t in d) == sorted(['$t1', '$t5', '$r1'])"

# ---------------------------------------------------------------- counts
metrics
expect_grep '^promlite_managed_jobs 5$' "$WORK/metrics" "/metrics counts 5 managed jobs"
expect_grep '^promlite_managed_targets 8$' "$WORK/metrics" "/metrics counts 8 managed targets"

# ---------------------------------------------------------------- scraping
# All of this was never reloaded: the targets are scraped within a second or two.
wait_value "up{job=\"fixture\",team=\"a\",tier=\"1\",instance=\"127.0.0.1:$fp\"}" 1 40
wait_value "up{job=\"fixture\",team=\"a\",hostname=\"host-a\",target_id=\"$t1\"}" 1 30
wait_value "up{job=\"fixture\",team=\"r\",hostname=\"host-r2\",target_id=\"$r1\",instance=\"localhost:$fp\"}" 1 30
wait_value "up{job=\"fixture\",team=\"put\",hostname=\"host-p\"}" 1 30
wait_value 'fixture_temperature{job="fixture",team="a",room="lab"}' 21.5 10
wait_value "up{job=\"authjob\",instance=\"127.0.0.1:$fp\"}" 1 30
wait_value 'scrape_samples_scraped{job="authjob"}' 3 10
wait_value "up{job=\"self\",instance=\"127.0.0.1:$sp\"}" 1 30
wait_value 'promlite_managed_jobs{job="self"}' 5 30
wait_value 'up{job="filejob",origin="managed"}' 1 30
wait_value 'count(up{job="doomed"} == 1)' 2 30
q 'up{job="fixture"}'
check "the __meta_promlite_ labels are not stored on the series" python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))["data"]["result"]
assert r and not any(k.startswith("__meta") for x in r for k in x["metric"]), r' "$WORK/q.json"
q 'up{job="authjob"}'
check "a job without relabel_configs has no hostname label" python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))["data"]["result"]
assert len(r) == 1 and "hostname" not in r[0]["metric"] and "target_id" not in r[0]["metric"], r' "$WORK/q.json"
curl -s -H "$READ" "$url/api/v1/targets" > "$WORK/targets.json"
check "/api/v1/targets shows the managed targets with their meta labels" python3 -c '
import json, sys
t = [x for x in json.load(open(sys.argv[1]))["data"]["activeTargets"] if x["labels"].get("target_id") == sys.argv[2]]
assert len(t) == 1, t
assert t[0]["scrapePool"] == "fixture" and t[0]["health"] == "up", t
assert t[0]["discoveredLabels"].get("__meta_promlite_target_id") == sys.argv[2], t
assert t[0]["discoveredLabels"].get("__meta_promlite_hostname") == "host-a", t' "$WORK/targets.json" "$t1"

# ---------------------------------------------------------------- deletes
req DELETE "/api/v1/admin/targets/$t5"
expect_code "DELETE a target" 200
expect_value 'up{job="fixture",team="put"}' none
req GET "/api/v1/admin/targets/$t5"
expect_code "the deleted target is gone" 404
expect_value 'up{job="fixture",team="a"}' 1
sleep 1.2
expect_value 'up{job="fixture",team="put"}' none
q 'count_over_time(up{job="fixture",team="put"}[1s])'
check "no sample of the deleted target after the DELETE (got $(value_of))" [ "$(value_of)" = none ]
req DELETE /api/v1/admin/jobs/doomed
expect_code "DELETE a job that still has targets" 409
jcheck "conflict" "et == 'conflict'"
req GET /api/v1/admin/jobs/doomed
expect_code "the refused DELETE kept the job" 200
req DELETE "/api/v1/admin/jobs/doomed?cascade=true"
expect_code "DELETE the job with ?cascade=true" 200
jcheck "cascade reports deletedTargets 2" "b['status'] == 'success' and d['deletedTargets'] == 2"
expect_value 'up{job="doomed"}' none
req GET "/api/v1/admin/targets?job=doomed"
jcheck "its targets are gone too" "d == []"
req GET /api/v1/admin/jobs/doomed
expect_code "the cascaded job is gone" 404
metrics
expect_grep '^promlite_managed_jobs 4$' "$WORK/metrics" "/metrics counts 4 managed jobs after the deletes"
expect_grep '^promlite_managed_targets 5$' "$WORK/metrics" "/metrics counts 5 managed targets after the deletes"

# ---------------------------------------------------------------- reloads
req GET /api/v1/admin/jobs
cp "$WORK/body" "$WORK/jobs-before.json"
req GET /api/v1/admin/targets
cp "$WORK/body" "$WORK/targets-before.json"
# same_jobs DESCRIPTION: the last answer lists the same jobs, with the same times, as before.
same_jobs() {
  jcheck "$1" "d == json.load(open('$WORK/jobs-before.json'))['data'] and [j['name'] for j in d] == ['authjob', 'beta', 'fixture', 'self']"
}
code=$(curl -s -o "$WORK/body" -w '%{http_code}' -H "$ADMIN" -X POST "$url/-/reload")
expect_code "reload the unchanged configuration file" 200
t=$(now)
req GET /api/v1/admin/jobs
same_jobs "the reload keeps the managed jobs"
req GET /api/v1/admin/targets
jcheck "the reload keeps the managed targets" "sorted(d, key=lambda t: t['id']) == sorted(json.load(open('$WORK/targets-before.json'))['data'], key=lambda t: t['id'])"
# fresh QUERY: polls until QUERY has a sample newer than $t, with value 1.
fresh() {
  for i in $(seq 40); do q "(timestamp($1) > bool $t) * $1"; got=$(value_of); [ "$got" = 1 ] && break; sleep 0.1; done
  check "$1 is scraped after that (got $got)" [ "$got" = 1 ]
}
cp "$WORK/base.yml" "$WORK/promlite.yml"
printf '  - job_name: beta\n    static_configs: [{targets: ["127.0.0.1:%s"]}]\n' "$fp" >> "$WORK/promlite.yml"
code=$(curl -s -o "$WORK/body" -w '%{http_code}' -H "$ADMIN" -X POST "$url/-/reload")
expect_code "a file that defines the managed job beta fails the reload" 500
check "the refusal names the job (answer: $(body))" grep -q beta "$WORK/body"
t=$(now)
metrics
expect_grep '^promlite_config_last_reload_successful 0$' "$WORK/metrics" "the failed reload shows in /metrics"
req GET /api/v1/admin/jobs
same_jobs "the failed reload keeps the managed jobs"
fresh 'up{job="fixture",team="a"}'
fresh 'up{job="filejob",origin="managed"}'
expect_value 'up{job="beta"}' none
cp "$WORK/base.yml" "$WORK/promlite.yml"
code=$(curl -s -o "$WORK/body" -w '%{http_code}' -H "$ADMIN" -X POST "$url/-/reload")
expect_code "the original file reloads again" 200
metrics
expect_grep '^promlite_config_last_reload_successful 1$' "$WORK/metrics" "and /metrics says so"

# ---------------------------------------------------------------- restart
check "SIGTERM stops the server cleanly" stop
t=$(now)
if start "$WORK/server2.err"; then ok "the server starts again on the same data folder"
else not_ok "the server starts again on the same data folder (stderr: $(head -c 500 "$WORK/server2.err"))"; finish; fi
req GET /api/v1/admin/jobs
same_jobs "the jobs are listed again after the restart"
req GET /api/v1/admin/targets
cp "$WORK/body" "$WORK/targets-after.json"
check "the targets are listed again after the restart" python3 -c '
import json, sys
key = lambda t: t["id"]
a = sorted(json.load(open(sys.argv[1]))["data"], key=key)
b = sorted(json.load(open(sys.argv[2]))["data"], key=key)
assert a == b and len(a) == 5, (a, b)' "$WORK/targets-before.json" "$WORK/targets-after.json"
req GET /api/v1/admin/jobs/authjob
jcheck "the stored password is still hidden" "d['scrape']['basic_auth']['password'] == '<secret>'"
fresh "up{job=\"fixture\",team=\"a\",target_id=\"$t1\"}"
fresh "up{job=\"fixture\",hostname=\"host-r2\",target_id=\"$r1\"}"
fresh 'up{job="authjob"}'
fresh 'up{job="self"}'
fresh 'up{job="filejob",origin="managed"}'
metrics
expect_grep '^promlite_managed_jobs 4$' "$WORK/metrics" "/metrics counts 4 managed jobs after the restart"
expect_grep '^promlite_managed_targets 5$' "$WORK/metrics" "/metrics counts 5 managed targets after the restart"
check "the second server stops cleanly" stop
finish
