#!/bin/sh
# sample-data.sh - a small deterministic OpenMetrics dataset on stdout:
# 3 hosts, node_exporter-like CPU counters, memory and load gauges, one hour
# at 15 s, ending at the current time rounded down to the minute.
awk -v now="$(date +%s)" 'BEGIN {
  srand(42); end = now - now % 60; n = 240; start = end - (n - 1) * 15
  print "# HELP node_cpu_seconds_total Seconds the CPUs spent in each mode."
  print "# TYPE node_cpu_seconds_total counter"
  split("idle system user", modes, " ")
  for (h = 0; h < 3; h++) for (c = 0; c < 2; c++) for (m = 1; m <= 3; m++) {
    v = 1000 + h * 100 + c * 10 + m
    for (i = 0; i < n; i++) {
      v += (modes[m] == "idle" ? 12 : 1.5) + int(rand() * 100) / 100
      printf "node_cpu_seconds_total{cpu=\"%d\",instance=\"host-%d:9100\",job=\"node\",mode=\"%s\"} %.2f %d\n", c, h, modes[m], v, start + i * 15
    }
  }
  print "# HELP node_memory_MemFree_bytes Memory information field MemFree_bytes."
  print "# TYPE node_memory_MemFree_bytes gauge"
  for (h = 0; h < 3; h++) {
    v = 2000000 + h * 100000
    for (i = 0; i < n; i++) {
      v += int((rand() - 0.5) * 2000); if (v < 1000) v = 1000
      printf "node_memory_MemFree_bytes{instance=\"host-%d:9100\",job=\"node\"} %d %d\n", h, v * 4096, start + i * 15
    }
  }
  print "# HELP node_load1 1m load average."
  print "# TYPE node_load1 gauge"
  for (h = 0; h < 3; h++) {
    v = 0.5 + h
    for (i = 0; i < n; i++) {
      v += (rand() - 0.5) / 10; if (v < 0) v = -v
      printf "node_load1{instance=\"host-%d:9100\",job=\"node\"} %.2f %d\n", h, v, start + i * 15
    }
  }
  print "# EOF"
}'
