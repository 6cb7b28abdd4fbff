/*
 * json.h - JSON output in Prometheus's shapes and number formatting, shared
 * by the HTTP API and `promlite query --format json`.
 *
 * Prometheus writes sample values as strings in Go's shortest form ("1.5",
 * "1e+06", "+Inf", "NaN") and times as seconds with up to three decimals
 * (1700000000.5); label sets as objects; query results as
 * {"resultType": ..., "result": ...}.
 *
 * The prefix is jw_ ("JSON writer"): json_ is jansson's namespace, which
 * the target management API (ingest/registry.c) links too.
 *
 * Ownership: everything appends to a caller-owned buf.
 * Threads: pure functions, any thread.
 */
#ifndef PROMLITE_WEB_JSON_H
#define PROMLITE_WEB_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "common/labels.h"
#include "common/util.h"
#include "query/engine.h"

/* A JSON string with the escapes encoding/json uses (<, >, & as \u003c ...,
 * invalid UTF-8 as \ufffd). */
void jw_string(buf *b, const char *s, size_t n);
static inline void jw_cstring(buf *b, const char *s) { jw_string(b, s, strlen(s)); }
/* Milliseconds as Prometheus's JSON time: seconds, at most 3 decimals. */
void jw_time(buf *b, int64_t ms);
/* [time, "value"] */
void jw_point(buf *b, int64_t ms, double v);
/* {"name":"value",...} */
void jw_labels(buf *b, const label *l, size_t n);
/* The "data" of /api/v1/query and /api/v1/query_range. */
void jw_query_result(buf *b, const pq_result *r);

#endif
