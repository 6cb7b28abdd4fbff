#!/usr/bin/env python3
"""compare.py - runs PromQL queries against two Prometheus-compatible HTTP
APIs (promlite and the real Prometheus) and compares the answers.

usage: compare.py QUERIES URL_A URL_B END_SECONDS

Every query is run as an instant query at END and as a range query over
[END-50m, END] at a 60 s step.  Answers must agree: the same status and
result type, the same label sets, the same timestamps, and values equal
within 1e-9 relative (NaN equal to NaN).  Prints one line per difference
and ends with "N passed, N failed" (one case per query and kind); a query
marked "# known: REASON" is reported as skipped when it differs.
"""
import json
import math
import sys
import urllib.parse
import urllib.request


def fetch(base, path, params):
    url = base + path + "?" + urllib.parse.urlencode(params)
    try:
        with urllib.request.urlopen(url, timeout=60) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as e:
        return json.loads(e.read())


def value_equal(a, b):
    x, y = float(a), float(b)
    if math.isnan(x) and math.isnan(y):
        return True
    if x == y:
        return True
    return abs(x - y) <= 1e-9 * max(abs(x), abs(y))


def canon(data):
    """Result as {labels-tuple: [(t, v), ...]} plus its type."""
    rt = data["resultType"]
    res = data["result"]
    if rt == "scalar" or rt == "string":
        return rt, {(): [tuple(res)]}
    out = {}
    for s in res:
        key = tuple(sorted(s["metric"].items()))
        pts = [tuple(s["value"])] if rt == "vector" else [tuple(p) for p in s["values"]]
        out[key] = pts
    return rt, out


def points(resp):
    """How many points an answer holds (to tell real agreement from two empties)."""
    if resp.get("status") != "success":
        return 0
    d = resp["data"]
    if d["resultType"] in ("scalar", "string"):
        return 1
    if d["resultType"] == "vector":
        return len(d["result"])
    return sum(len(s["values"]) for s in d["result"])


def compare(a, b):
    if a.get("status") != b.get("status"):
        return "status %s vs %s (%s / %s)" % (a.get("status"), b.get("status"), a.get("error"), b.get("error"))
    if a["status"] != "success":
        return None
    ta, ca = canon(a["data"])
    tb, cb = canon(b["data"])
    if ta != tb:
        return "result type %s vs %s" % (ta, tb)
    if set(ca) != set(cb):
        only_a = sorted(set(ca) - set(cb))[:3]
        only_b = sorted(set(cb) - set(ca))[:3]
        return "label sets differ: only promlite %s, only Prometheus %s" % (only_a, only_b)
    for k in ca:
        pa, pb = ca[k], cb[k]
        if len(pa) != len(pb):
            return "%s: %d points vs %d" % (dict(k), len(pa), len(pb))
        for (t1, v1), (t2, v2) in zip(pa, pb):
            if abs(float(t1) - float(t2)) > 1e-6:
                return "%s: timestamp %s vs %s" % (dict(k), t1, t2)
            if not value_equal(v1, v2):
                return "%s @%s: %s vs %s" % (dict(k), t1, v1, v2)
    return None


def main():
    qfile, url_a, url_b, end = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
    passed = failed = skipped = 0
    empty = total_points = 0
    for line in open(qfile):
        line = line.rstrip("\n")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        query, _, known = line.partition("# known:")
        query = query.strip()
        for kind, path, params in (
            ("instant", "/api/v1/query", {"query": query, "time": "%.3f" % end}),
            ("range", "/api/v1/query_range",
             {"query": query, "start": "%.3f" % (end - 3000), "end": "%.3f" % end, "step": "60"}),
        ):
            ra, rb = fetch(url_a, path, params), fetch(url_b, path, params)
            diff = compare(ra, rb)
            n = points(rb)
            total_points += n
            empty += n == 0
            if diff is None:
                passed += 1
            elif known:
                skipped += 1
                print("known difference (%s): %s %s: %s" % (known.strip(), kind, query, diff))
            else:
                failed += 1
                print("DIFFERENT: %s %s: %s" % (kind, query, diff))
    print("%d points compared; %d answers empty on both sides" % (total_points, empty))
    # Nearly every query is written to have an answer: many empty ones mean
    # the data did not load, which would make agreement meaningless.
    if empty > 20:
        failed += 1
        print("DIFFERENT: %d empty answers: the data is not where the queries look" % empty)
    if skipped:
        print("%d passed, %d failed, %d skipped" % (passed, failed, skipped))
    else:
        print("%d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)


main()
