/*
 * import.h - backfilling a database from an exposition-format stream
 * (OpenMetrics with timestamps in seconds, or the Prometheus text format with
 * timestamps in milliseconds, which is also what `promlite tsdb dump` writes).
 *
 * Threads: runs on the calling thread, which is the database's writer for
 * the duration.  Ownership: allocates nothing that outlives the call.
 */
#ifndef PROMLITE_IMPORT_H
#define PROMLITE_IMPORT_H

#include <stdint.h>

#include "tsdb/tsdb.h"

typedef enum { IMPORT_FORMAT_AUTO, IMPORT_FORMAT_OPENMETRICS, IMPORT_FORMAT_TEXT } import_format;
typedef enum { PROGRESS_NONE, PROGRESS_LINES, PROGRESS_BAR } import_progress;

typedef struct import_options {
    import_format format;
    import_progress progress;     /* written to stderr */
    uint64_t batch_samples;       /* samples per committed batch (0: default) */
} import_options;

typedef struct import_result {
    import_format format;         /* the format actually used */
    uint64_t lines, samples_read;
    tsdb_append_stats appended;   /* summed over batches */
    uint64_t no_timestamp;        /* rejected: sample without a timestamp */
    uint64_t invalid_series;      /* rejected: labels the data model refuses */
    uint64_t series_seen;         /* distinct series in the input */
    uint64_t bytes;
    double seconds, cpu_seconds;
} import_result;

/* Reads fd to the end and appends every sample.  name is used in messages
 * ("FILE:LINE:COL: reason").  Stops at the first syntax error: batches
 * committed before it stay stored and are counted in *res.  Returns 0 or -1
 * with err set. */
int import_stream(tsdb *db, int fd, const char *name, const import_options *opts,
                  import_result *res, errbuf *err);

/* Formats a float so that strtod gives back the same bits: as Prometheus
 * writes it (format_float), "NaN" for the NaN
 * Prometheus produces, and "NaN:0x<16 hex digits>" for any other NaN payload
 * (such as the staleness marker), which promlite's parser reads back exactly. */
void format_value(double v, char *out, size_t outlen);

#endif
