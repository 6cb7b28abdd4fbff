/*
 * timeutil.h - time, duration and size values as Prometheus writes them.
 *
 * Timestamps are int64 milliseconds since the Unix epoch throughout promlite.
 * Threads: pure functions, any thread.
 */
#ifndef PROMLITE_TIMEUTIL_H
#define PROMLITE_TIMEUTIL_H

#include <stddef.h>
#include <stdint.h>

/* Days since 1970-01-01 of a proleptic Gregorian date (month 1..12), and
 * back (Howard Hinnant's algorithms): calendar arithmetic without a time
 * zone database or timegm(). */
int64_t days_from_civil(int64_t y, unsigned m, unsigned d);
void civil_from_days(int64_t days, int64_t *y, unsigned *m, unsigned *d);

/* Parses a Prometheus duration: one or more <number><unit> with units
 * y w d h m s ms, largest first, each at most once ("1h30m", "5m", "90s",
 * "1y").  Returns 0 and sets *ms, or -1 when the text is not a duration. */
int parse_duration(const char *s, int64_t *ms);

/* Formats a duration as Prometheus does ("1h30m", "5m", "0s"). */
void format_duration(int64_t ms, char *out, size_t outlen);

/* Parses a time as the HTTP API accepts it: RFC 3339 ("2026-11-22T10:00:00Z",
 * fractions and offsets allowed) or Unix seconds with an optional fraction
 * ("1700000000.5").  Returns 0 and sets *ms, or -1. */
int parse_time(const char *s, int64_t *ms);

/* Formats milliseconds as RFC 3339 in UTC with millisecond precision. */
void format_time(int64_t ms, char *out, size_t outlen);

/* Formats milliseconds as Go's time.Time marshals to JSON (RFC 3339 in UTC,
 * fraction with trailing zeros dropped): "2026-11-22T10:00:00Z",
 * "2026-11-22T10:00:00.12Z".  Alertmanager's and Prometheus's alert JSON
 * use this form. */
void format_time_json(int64_t ms, char *out, size_t outlen);

/* Parses a byte size: a number with an optional unit B, KB, MB, GB, TB, PB,
 * EB (powers of 1024, as Prometheus's --storage.tsdb.retention.size) or the
 * same with "iB" ("512MiB").  Returns 0 and sets *bytes, or -1. */
int parse_bytes(const char *s, uint64_t *bytes);

#endif
