#!/bin/sh
# check_config.sh - `promlite check config`: good and bad configurations
# through the real binary, output and exit codes as promtool's, and, where
# Prometheus's promtool is installed, that promtool accepts the same good
# configurations (promlite's subset must stay valid Prometheus).
. "$SRCDIR/tests/e2e/lib.sh"

C="$WORK/conf"
mkdir -p "$C/rules" "$C/sd"
printf 'groups: []\n' > "$C/rules/a.yml"
printf 'groups: []\n' > "$C/rules/b.yml"
printf '[{"targets": ["127.0.0.1:9100"]}]\n' > "$C/sd/t.json"
printf 'token\n' > "$C/token"

# ------------------------------------------------------------ good configs
cat > "$C/minimal.yml" <<'YAML'
scrape_configs:
  - job_name: promlite
    static_configs:
      - targets: ["127.0.0.1:9090"]
YAML
: > "$C/empty.yml"
cat > "$C/full.yml" <<'YAML'
global:
  scrape_interval: 30s
  scrape_timeout: 5s
  evaluation_interval: 1m
  external_labels: {site: lab, env: test}
rule_files:
  - rules/*.yml
alerting:
  alertmanagers:
    - static_configs:
        - targets: ["127.0.0.1:9093"]
scrape_configs:
  - job_name: node
    scrape_interval: 15s
    metrics_path: /metrics
    scheme: http
    honor_labels: false
    honor_timestamps: true
    params:
      collect[]: [cpu, meminfo]
    sample_limit: 10000
    label_limit: 64
    label_name_length_limit: 128
    label_value_length_limit: 1024
    body_size_limit: 10MB
    target_limit: 100
    authorization:
      credentials_file: token
    static_configs:
      - targets: ["127.0.0.1:9100", "[::1]:9100"]
        labels: {role: server}
    file_sd_configs:
      - files: ["sd/*.json"]
        refresh_interval: 1m
    relabel_configs:
      - source_labels: [__address__]
        regex: "([^:]+):.*"
        target_label: host
      - action: labeldrop
        regex: tmp_.*
    metric_relabel_configs:
      - source_labels: [__name__]
        regex: go_.*
        action: drop
  - job_name: secure
    scheme: https
    basic_auth:
      username: admin
      password: secret
    tls_config:
      server_name: node.local
      insecure_skip_verify: true
    proxy_url: http://127.0.0.1:3128
    static_configs:
      - targets: ["127.0.0.1:9443"]
YAML
GOOD="$C/minimal.yml $C/empty.yml $C/full.yml $SRCDIR/examples/prometheus.yml $SRCDIR/examples/promlite.yml"
for f in $GOOD; do
  expect_exit 0 "accepts $(basename "$f")" "$PROMLITE" check config "$f"
  expect_grep "^Checking $f\$" "$WORK/out" "$(basename "$f"): Checking line"
  expect_grep "^ SUCCESS: $f is valid prometheus config file syntax\$" "$WORK/out" "$(basename "$f"): SUCCESS line"
done
expect_exit 0 "check full.yml" "$PROMLITE" check config "$C/full.yml"
expect_grep '^  SUCCESS: 2 rule files found$' "$WORK/out" "rule files are counted, relative to the config's folder"
expect_exit 0 "several files at once" "$PROMLITE" check config "$C/minimal.yml" "$C/full.yml"
expect_grep "Checking $C/full.yml" "$WORK/out" "the second file is checked too"

# ------------------------------------------------------------ bad configs
bad() { # NAME EXPECTED-REGEX CONFIG-TEXT (printf format)
  # shellcheck disable=SC2059
  printf "$3" > "$C/$1.yml"
  expect_exit 1 "rejects $1" "$PROMLITE" check config "$C/$1.yml"
  expect_grep "^  FAILED: $C/$1.yml:[0-9]+(:[0-9]+)?: $2" "$WORK/err" "$1: FILE:LINE: reason"
}
bad syntax "yaml: did not find expected ',' or ']'" 'global:\n  scrape_interval: [1m\n'
bad unknown_field 'field foo not found in type config.ScrapeConfig' 'scrape_configs:\n  - job_name: a\n    foo: bar\n'
bad unsupported '"remote_read" is not supported by promlite' 'remote_read:\n  - url: http://127.0.0.1:1\n'
bad duration 'not a valid duration string: "1x"' 'global:\n  scrape_interval: 1x\n'
bad dup_job 'found multiple scrape configs with job name "a"' 'scrape_configs:\n  - job_name: a\n  - job_name: a\n'
bad type 'cannot unmarshal !!str `maybe` into bool' 'scrape_configs:\n  - job_name: a\n    honor_labels: maybe\n'
bad target '"http://x:1" is not a valid hostname' 'scrape_configs:\n  - job_name: a\n    static_configs:\n      - targets: ["http://x:1"]\n'
bad relabel 'unknown relabel action "frobnicate"' 'scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - action: frobnicate\n'
bad missing_rules '".*missing.yml" does not point to an existing file' 'rule_files: [missing.yml]\n'
grep -q '^Checking ' "$WORK/out" && ok "FAILED still prints Checking first" || not_ok "no Checking line on failure"

# a failing file among good ones fails the run, the good ones still pass
expect_exit 1 "one bad file fails the run" "$PROMLITE" check config "$C/minimal.yml" "$C/syntax.yml"
expect_grep "^ SUCCESS: $C/minimal.yml" "$WORK/out" "the good file is still reported"
# --syntax-only skips the files the config names
expect_exit 0 "--syntax-only ignores missing rule files" "$PROMLITE" check config --syntax-only "$C/missing_rules.yml"
expect_exit 1 "a missing config file fails" "$PROMLITE" check config "$C/nope.yml"
expect_grep 'nope.yml: cannot open' "$WORK/err" "missing config file is named"
expect_exit 2 "no file is a usage error" "$PROMLITE" check config
expect_exit 2 "unknown subcommand" "$PROMLITE" check nosuch x
expect_exit 1 "check rules: a missing rule file fails" "$PROMLITE" check rules "$C/nope.yml"
expect_grep "nope.yml: cannot read: No such file or directory" "$WORK/err" "a missing rule file is named"
expect_exit 0 "check config --help" "$PROMLITE" check config --help
expect_grep '^usage: promlite check config' "$WORK/out" "help shows usage"
expect_exit 0 "help check" "$PROMLITE" help check
expect_grep 'config' "$WORK/out" "help check lists config"

# ------------------------------------------------------------ interoperability
if [ -x /usr/bin/promtool ]; then
  for f in $GOOD; do
    expect_exit 0 "promtool accepts $(basename "$f") too" /usr/bin/promtool check config "$f"
  done
  # and both refuse a Prometheus error promlite reproduces
  expect_exit 1 "promtool also rejects dup_job" /usr/bin/promtool check config "$C/dup_job.yml"
  expect_grep 'found multiple scrape configs with job name "a"' "$WORK/err" "same reason from promtool"
else
  echo "# /usr/bin/promtool not installed: interoperability checks skipped"
fi
# check web-config, and the same verdicts from promtool where it is installed.
printf 'basic_auth_users:\n  grafana: $2b$04$8AkQI3b1dSDn5kfKmgnQ1OWQQD4llZlv5NtX6MQUl6h36ENkaz5mW\n' > "$WORK/web-good.yml"
printf 'basic_auth_users:\n  grafana: not-a-hash\n' > "$WORK/web-bad.yml"
expect_exit 0 "check web-config accepts a good file" "$PROMLITE" check web-config "$WORK/web-good.yml"
expect_exit 1 "check web-config refuses a bad hash" "$PROMLITE" check web-config "$WORK/web-bad.yml"
expect_grep 'web-bad.yml:2:.*not a bcrypt hash' "$WORK/err" "the refusal names file, line and reason"
if command -v promtool >/dev/null 2>&1; then
  expect_exit 0 "promtool check web-config accepts the same good file" promtool check web-config "$WORK/web-good.yml"
  expect_exit 1 "promtool check web-config refuses the same bad file" promtool check web-config "$WORK/web-bad.yml"
fi
finish
