#!/bin/sh
# promql_interop.sh - promlite's own PromQL cases (tests/promql/*.test) are
# also checked against the real Prometheus: each script is turned into a
# `promtool test rules` file (load blocks become input series, instant
# evals and every step of range evals become promql_expr_test entries) and
# promtool from Debian's prometheus package must pass it.  eval_fail cases,
# and range evals using start() or end() (which mean another time in an
# instant query), have no promtool form and are left out.  Skipped (exit 77) without
# promtool.
. "$SRCDIR/tests/e2e/lib.sh"
command -v promtool >/dev/null 2>&1 || { echo "promtool not installed (apt-get install prometheus): skipped"; exit 77; }
command -v python3 >/dev/null 2>&1 || { echo "python3 not installed: skipped"; exit 77; }
for t in "$SRCDIR"/tests/promql/*.test; do
  name=$(basename "$t" .test)
  python3 - "$t" "$WORK/$name.yml" <<'PY' > "$WORK/$name.count" || { not_ok "$name: converted for promtool"; continue; }
import re, sys

def dur(s):
    if s == "0":
        return 0
    total = 0
    for n, u in re.findall(r"(\d+)(ms|y|w|d|h|m|s)", s):
        total += int(n) * {"ms": 1, "s": 1000, "m": 60000, "h": 3600000, "d": 86400000, "w": 604800000, "y": 31536000000}[u]
    return total

def fmt_dur(ms):
    return "%dms" % ms

def split_series(line):
    # series descriptor, then the value list
    m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)?(\{(?:[^"\']|"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\')*\})?\s*(.*)$', line)
    return (m.group(1) or "") + (m.group(2) or ""), m.group(3)

lines = [l.strip() for l in open(sys.argv[1])]
lines = ["" if l.startswith("#") else l for l in lines]
groups, cur = [], None
i, cases = 0, 0
def new_group():
    g = {"series": [], "interval": None, "tests": []}
    groups.append(g)
    return g
cur = new_group()
while i < len(lines):
    l = lines[i]
    if not l:
        i += 1
        continue
    words = l.split()
    if words[0] == "clear":
        cur = new_group()
        i += 1
        continue
    block = []
    j = i + 1
    while j < len(lines) and lines[j]:
        block.append(lines[j])
        j += 1
    if words[0] == "load":
        iv = dur(words[1])
        if cur["interval"] not in (None, iv):
            sys.exit("only one load interval per group")
        cur["interval"] = iv
        for b in block:
            s, v = split_series(b)
            cur["series"].append((s, v))
    elif words[0] in ("eval", "eval_ordered"):
        if words[1] == "instant":
            t, expr = dur(words[3]), " ".join(words[4:])
            exp = []
            for b in block:
                s, v = split_series(b)
                exp.append((s or "{}", v))
            cur["tests"].append((expr, t, exp))
            cases += 1
        else:
            start, end, step = dur(words[3]), dur(words[5]), dur(words[7])
            expr = " ".join(words[8:])
            if "start()" in expr or "end()" in expr:
                i = j  # as single instants, start() and end() would mean another time
                continue
            per = {}
            for b in block:
                s, v = split_series(b)
                for k, item in enumerate(v.split()):
                    if item != "_":
                        per.setdefault(k, []).append((s or "{}", item))
            k = 0
            while start + k * step <= end:
                cur["tests"].append((expr, start + k * step, per.get(k, [])))
                k += 1
            cases += 1
    i = j
out = open(sys.argv[2], "w")
out.write("rule_files: []\nevaluation_interval: 1m\ntests:\n")
for g in groups:
    if not g["tests"]:
        continue
    out.write("  - interval: %s\n    input_series:\n" % fmt_dur(g["interval"] or 60000))
    for s, v in g["series"]:
        out.write("      - series: '%s'\n        values: '%s'\n" % (s.replace("'", "''"), v))
    out.write("    promql_expr_test:\n")
    for expr, t, exp in g["tests"]:
        out.write("      - expr: '%s'\n        eval_time: %s\n        exp_samples:\n" % (expr.replace("'", "''"), fmt_dur(t)))
        for s, v in exp:
            out.write("          - labels: '%s'\n            value: %s\n" % (s.replace("'", "''"), v))
print(cases)
PY
  # An expectation of no samples is written as an empty list.
  sed -i 's/^        exp_samples:$/        exp_samples:/' "$WORK/$name.yml"
  python3 - "$WORK/$name.yml" <<'PY'
import sys
p = sys.argv[1]
lines = open(p).read().split("\n")
out = []
for k, l in enumerate(lines):
    if l == "        exp_samples:" and (k + 1 >= len(lines) or not lines[k + 1].startswith("          - labels")):
        out.append("        exp_samples: []")
    else:
        out.append(l)
open(p, "w").write("\n".join(out))
PY
  (cd "$WORK" && promtool test rules "$name.yml") > "$WORK/$name.out" 2>&1
  rc=$?
  sed 's/^/# /' "$WORK/$name.out" | head -40
  check "$name.test: all $(cat "$WORK/$name.count") cases agree with Prometheus ($(promtool --version 2>&1 | head -1 | awk '{print $3}'))" [ $rc -eq 0 ]
done
finish
