#!/bin/sh
# server.sh - `promlite server` end to end over HTTP: Prometheus's API shapes,
# status codes and errors, what Grafana and promtool send, /metrics, and a
# clean shutdown on SIGTERM that keeps the data.
. "$SRCDIR/tests/e2e/lib.sh"
command -v curl >/dev/null 2>&1 || { echo "curl not installed: skipped"; exit 77; }
awk 'BEGIN { for (i = 0; i <= 40; i++) { t = (1700000000 + i * 15) * 1000
  printf "req_total{code=\"200\",job=\"api\"} %d %.0f\n", i * 30, t
  printf "req_total{code=\"500\",job=\"api\"} %d %.0f\n", i * 3, t } }' > "$WORK/data.prom"
expect_exit 0 "import the fixture" "$PROMLITE" import --quiet --format=text --storage.tsdb.path "$WORK/d" "$WORK/data.prom"
printf 'global:\n  scrape_interval: 15s\n' > "$WORK/promlite.yml"
"$PROMLITE" server --storage.tsdb.path "$WORK/d" --web.listen-address 127.0.0.1:0 --config.file "$WORK/promlite.yml" \
  --web.enable-lifecycle 2> "$WORK/server.err" &
pid=$!
for i in $(seq 50); do grep -q 'listening on' "$WORK/server.err" && break; sleep 0.1; done
port=$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$WORK/server.err")
check "the server says where it listens" [ -n "$port" ]
expect_grep 'only this machine can connect' "$WORK/server.err" "it says that it listens on loopback only"
url=http://127.0.0.1:$port
get() { curl -s -o "$WORK/body" -w '%{http_code}' "$@" > "$WORK/code"; }
body_is() { check "$1" [ "$(cat "$WORK/body")" = "$2" ]; }
code_is() { check "$1 (HTTP $2)" [ "$(cat "$WORK/code")" = "$2" ]; }

get "$url/api/v1/query?query=sum%20by%20(job)%20(rate(req_total%5B5m%5D))&time=1700000600"
code_is "instant query" 200
body_is "instant query JSON" '{"status":"success","data":{"resultType":"vector","result":[{"metric":{"job":"api"},"value":[1700000600,"2.2"]}]}}'
# Grafana: a form-encoded POST with float-second times, and 1+1 at time=4 to test a new data source.
get -X POST --data-urlencode 'query=1+1' --data-urlencode 'time=4' "$url/api/v1/query"
body_is "Grafana's data source check gets a scalar" '{"status":"success","data":{"resultType":"scalar","result":[4,"2"]}}'
get -X POST --data-urlencode 'query=req_total{code="500"}' -d 'start=1700000000.000' -d 'end=1700000030.5' -d 'step=15' "$url/api/v1/query_range"
body_is "form-encoded range query" '{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"__name__":"req_total","code":"500","job":"api"},"values":[[1700000000,"0"],[1700000015,"3"],[1700000030,"6"]]}]}}'
get "$url/api/v1/query_range?query=req_total&start=1700000000&end=1700000060&step=30s"
check "step as a duration" grep -q '"values":\[\[1700000000,"0"\],\[1700000030,"60"\],\[1700000060,"120"\]\]' "$WORK/body"
get "$url/api/v1/series?match[]=req_total&match[]=%7Bcode%3D%22500%22%7D"
body_is "series with two match[]" '{"status":"success","data":[{"__name__":"req_total","code":"200","job":"api"},{"__name__":"req_total","code":"500","job":"api"}]}'
get "$url/api/v1/labels"
body_is "label names" '{"status":"success","data":["__name__","code","job"]}'
get "$url/api/v1/labels?start=1600000000&end=1600000100"
body_is "no label names where there is no data" '{"status":"success","data":[]}'
get "$url/api/v1/label/code/values?start=1700000000&end=1700000600"
body_is "label values within a time range" '{"status":"success","data":["200","500"]}'
get "$url/api/v1/label/code/values?match[]=req_total"
body_is "label values" '{"status":"success","data":["200","500"]}'
get "$url/api/v1/status/buildinfo"
check "buildinfo has a version" grep -q '"version":"[0-9]' "$WORK/body"

get "$url/api/v1/query?query=sum(req_total"
code_is "a parse error" 400
body_is "parse error JSON" '{"status":"error","errorType":"bad_data","error":"1:14: parse error: unclosed left parenthesis"}'
get "$url/api/v1/query?query=up&time=yesterday"
code_is "a bad time" 400
check "the bad time is named" grep -q 'invalid parameter \\"time\\": cannot parse \\"yesterday\\" to a valid timestamp' "$WORK/body"
get "$url/api/v1/query_range?query=up&start=0&end=100000&step=1"
code_is "too many points" 400
check "the 11,000 point limit is explained" grep -q 'exceeded maximum resolution of 11,000 points' "$WORK/body"
get "$url/api/v1/query_range?query=up&start=10&end=0&step=1"
check "end before start" grep -q 'end timestamp must not be before start time' "$WORK/body"
get "$url/api/v1/query?query=req_total%5B1m%5D%20%2B%201"
check "a range vector in arithmetic is a type error" grep -q 'binary expression must contain only scalar and instant vector types' "$WORK/body"
get "$url/api/v1/query?query=label_replace(req_total,%22a%22,%22b%22,%22c%22,%22(%22)"
code_is "an evaluation error" 422
get "$url/api/v1/series"
check "series needs match[]" grep -q 'no match\[\] parameter provided' "$WORK/body"
get "$url/api/v1/nonsense"
code_is "an unknown API endpoint" 404
get -X DELETE "$url/api/v1/query?query=1"
code_is "a wrong method" 405
get "$url/-/healthy"
code_is "healthy" 200
get "$url/-/ready"
code_is "ready" 200
get "$url/metrics"
check "/metrics counts requests by handler and code" grep -q '^promlite_http_requests_total{code="4xx",handler="/api/v1/query"} [1-9]' "$WORK/body"
check "/metrics has the query duration summary" grep -q '^promlite_engine_query_duration_seconds_count [1-9]' "$WORK/body"
check "/metrics has the storage counters" grep -q "^promlite_tsdb_head_series 2$" "$WORK/body"

if command -v promtool >/dev/null 2>&1; then
  expect_exit 0 "promtool query instant against promlite" promtool query instant --time=1700000600 "$url" 'sum(rate(req_total[5m]))'
  expect_grep '^\{\} => 2\.2 @\[1700000600\]$' "$WORK/out" "promtool reads the answer"
  expect_exit 0 "promtool query range" promtool query range --start=1700000000 --end=1700000030 --step=15s "$url" 'req_total{code="500"}'
  expect_grep '^6 @\[1700000030\]$' "$WORK/out" "promtool reads the matrix"
  expect_exit 0 "promtool query series" promtool query series --match='req_total' --start=1700000000 --end=1700000600 "$url"
  expect_grep 'code="500"' "$WORK/out" "promtool lists the series"
  expect_exit 0 "promtool query labels" promtool query labels --start=1700000000 --end=1700000600 "$url" code
  expect_grep '^500$' "$WORK/out" "promtool lists the label values"
fi

get -X POST "$url/-/quit"
code_is "the lifecycle API stops the server" 200
for i in $(seq 50); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done
wait $pid
check "the server exits cleanly" [ $? -eq 0 ]
expect_exit 0 "the data is intact afterwards" "$PROMLITE" query --storage.tsdb.path "$WORK/d" --time 1700000600 'count(req_total)'
expect_grep '=> 2 @' "$WORK/out" "both series are there"

"$PROMLITE" server --storage.tsdb.path "$WORK/d" --web.listen-address 127.0.0.1:"$port" --config.file "$WORK/promlite.yml" 2> "$WORK/s2.err" &
pid=$!
for i in $(seq 50); do grep -q 'listening on' "$WORK/s2.err" && break; sleep 0.1; done
"$PROMLITE" server --storage.tsdb.path "$WORK/d2" --web.listen-address 127.0.0.1:"$port" --config.file "$WORK/promlite.yml" 2> "$WORK/s3.err"
check "a second server on the same port fails" [ $? -eq 1 ]
expect_grep "cannot listen on 127.0.0.1:$port" "$WORK/s3.err" "the error names the address"
kill -TERM $pid
wait $pid
check "SIGTERM stops the server cleanly" [ $? -eq 0 ]
expect_grep 'received SIGTERM, shutting down' "$WORK/s2.err" "the shutdown is logged"

# --web.config.file: a basic-auth user (password "secret") and two tokens.
cat > "$WORK/web.yml" <<'YML'
basic_auth_users:
  grafana: $2b$04$8AkQI3b1dSDn5kfKmgnQ1OWQQD4llZlv5NtX6MQUl6h36ENkaz5mW
bearer_tokens:
  - {token: reader-token, role: read}
  - {token: admin-token, role: admin}
YML
"$PROMLITE" server --storage.tsdb.path "$WORK/d" --web.listen-address 127.0.0.1:"$port" --config.file "$WORK/promlite.yml" \
  --web.config.file "$WORK/web.yml" --web.enable-lifecycle 2> "$WORK/s4.err" &
pid=$!
for i in $(seq 50); do grep -q 'listening on' "$WORK/s4.err" && break; sleep 0.1; done
expect_grep 'with authentication' "$WORK/s4.err" "the server says it requires authentication"
get "$url/api/v1/query?query=1"
code_is "no credentials" 401
get -u grafana:wrong "$url/api/v1/query?query=1"
code_is "a wrong password" 401
get -u grafana:secret "$url/api/v1/query?query=1"
code_is "the right password" 200
get -H 'Authorization: Bearer reader-token' "$url/api/v1/query?query=1"
code_is "a read token" 200
get -X POST -H 'Authorization: Bearer reader-token' "$url/-/quit"
code_is "a read token may not stop the server" 403
get -H 'Authorization: Bearer admin-token' "$url/metrics"
check "refusals are counted" grep -q '^promlite_http_unauthorized_requests_total 2$' "$WORK/body"
get -X POST -H 'Authorization: Bearer admin-token' "$url/-/quit"
code_is "an admin token may" 200
wait $pid
check "and the server stops" [ $? -eq 0 ]
printf 'basic_auth_users:\n  u: not-a-hash\n' > "$WORK/bad-web.yml"
expect_exit 1 "a bad web config stops the start" "$PROMLITE" server --storage.tsdb.path "$WORK/d3" --config.file "$WORK/promlite.yml" \
  --web.listen-address 127.0.0.1:0 --web.config.file "$WORK/bad-web.yml"
expect_grep 'bad-web.yml:2' "$WORK/err" "the error names the file and line"
finish
