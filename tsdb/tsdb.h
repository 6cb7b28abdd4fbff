/*
 * tsdb.h - promlite's time-series storage engine.
 *
 * Data model: Prometheus's.  A series is a sorted label set (__name__
 * included); a sample is (int64 milliseconds, float64), every float stored
 * bit-exact.
 *
 * Design in one paragraph (docs/ARCHITECTURE.md has the whole story): one LMDB
 * environment holds the index (series, label-set hashes, postings), sealed
 * chunks keyed by (series id, max time) and snapshots of the open chunks; a
 * write-ahead log file beside it holds recent small batches.  New samples go
 * to per-series open chunks in memory (the head); a batch becomes durable
 * either by a WAL record (small batches, e.g. one scrape) or by persisting
 * the touched series' chunks directly in one LMDB transaction (large
 * batches, e.g. an import block).  Checkpoints write sealed chunks and
 * open-chunk snapshots and empty the WAL.
 *
 * Threads: any thread may write through its own appender (an appender
 * belongs to one thread); writing calls (tsdb_appender_ref, _commit,
 * checkpoint, compaction, retention) are serialised by the database's
 * writer lock, so the scrape thread and rule groups write side by side.
 * A series a pending batch created is visible to every appender at once,
 * and whichever batch commits first makes it durable.  Any number of
 * threads may hold readers concurrently.
 * tsdb_open/tsdb_close are called by the thread that owns the database when
 * no appender or reader is alive.
 *
 * Ownership: tsdb_open() returns a handle freed by tsdb_close().  Readers own
 * an arena: every label and sample array a reader returns stays valid until
 * tsdb_reader_close().  An appender owns its buffered samples.
 *
 * A data folder is used by one process at a time (an exclusive lock file);
 * a second opener gets a clear error instead of silent corruption.
 */
#ifndef PROMLITE_TSDB_H
#define PROMLITE_TSDB_H

#include <stddef.h>
#include <stdint.h>

#include "common/labels.h"
#include "common/selector.h"
#include "common/util.h"

/* Prometheus's staleness marker: a NaN with this exact bit pattern. */
#define STALE_NAN_BITS 0x7ff0000000000002ULL

typedef struct tsdb tsdb;
typedef uint64_t tsdb_ref; /* a series id; never reused */

typedef struct tsdb_options {
    const char *path;            /* data folder, created if missing            */
    int64_t retention_ms;        /* keep this much time before the newest
                                    sample; 0 = unlimited                      */
    uint64_t retention_bytes;    /* keep at most this much on disk; 0 = none   */
    uint64_t initial_map_bytes;  /* LMDB map to start with (0 = default); the
                                    map grows by itself                        */
    uint32_t chunk_max_samples;  /* 0 = default (240)                          */
    uint64_t checkpoint_wal_bytes; /* WAL size that triggers a checkpoint;
                                    0 = default (64 MiB)                       */
    uint32_t wal_sync_interval_ms; /* 0: a WAL-path commit syncs before it
                                    returns (survives power loss).  N: it
                                    returns once the record is written (it
                                    survives the process being killed) and
                                    the WAL is synced at most every N ms, so a
                                    power loss may lose the last N ms.  The
                                    server uses 1000 for scrapes, as
                                    Prometheus too syncs its WAL lazily.      */
    int read_only;               /* open without replaying into a writable head
                                    (stats/dump still see everything)          */
} tsdb_options;

/* Opens (creating if needed) the database in opts->path: takes the folder's
 * lock, loads open-chunk snapshots and replays the WAL.  Returns 0, or -1 with
 * err naming the folder and the reason. */
int tsdb_open(const tsdb_options *opts, tsdb **out, errbuf *err);

/* Checkpoints the head (so the next open replays nothing) and closes.
 * Returns 0, or -1 when the final checkpoint failed (no acknowledged data is
 * lost: the WAL still holds it). */
int tsdb_close(tsdb *db, errbuf *err);

/* ------------------------------------------------------------- writing */

typedef struct tsdb_append_stats {
    uint64_t appended;         /* samples stored                              */
    uint64_t out_of_order;     /* older than the series' newest sample        */
    uint64_t duplicate;        /* same timestamp as the newest, other value   */
    uint64_t identical;        /* same timestamp and value: ignored, no error */
    uint64_t unknown_ref;      /* ref not known to the database               */
    uint64_t new_series;       /* series created by this batch                */
} tsdb_append_stats;

typedef struct tsdb_appender tsdb_appender;

tsdb_appender *tsdb_appender_new(tsdb *db);
/* Frees the appender; samples not committed are discarded. */
void tsdb_appender_free(tsdb_appender *a);

/* Resolves a label set to its series ref, creating the series if new.  The
 * labels are validated (names, UTF-8 values, no duplicates, at least one
 * label), sorted in place, and labels with an empty value dropped as
 * Prometheus does.  Returns 0, or -1 with err set. */
int tsdb_appender_ref(tsdb_appender *a, label *labels, size_t n, tsdb_ref *ref, errbuf *err);

/* Buffers one sample for the next commit. */
void tsdb_appender_add(tsdb_appender *a, tsdb_ref ref, int64_t t, double v);
size_t tsdb_appender_pending(const tsdb_appender *a);

/* Makes the buffered samples durable and visible.  Each sample is accepted or
 * rejected on its own (counted in *st by reason); when this returns 0 every
 * accepted sample survives a crash of the process, and a power loss too
 * unless opts.wal_sync_interval_ms allows a window.  Returns -1 with err set when the batch
 * could not be made durable (e.g. the disk is full): nothing of it is
 * acknowledged, and what is stored already is intact. */
int tsdb_appender_commit(tsdb_appender *a, tsdb_append_stats *st, errbuf *err);

/* Writes sealed chunks and open-chunk snapshots and empties the WAL. */
int tsdb_checkpoint(tsdb *db, errbuf *err);

/* Rewrites the data file with LMDB's compacting copy: every page full, no
 * free pages, after a checkpoint.  Bulk writes (an import) leave B-tree pages
 * about half full; this packs them.  The copy is written beside the file,
 * synced, and renamed over it, so a crash at any point leaves one intact
 * file.  No reader may be open.  Returns the bytes the file shrank by, or -1
 * with err set (the database stays usable either way). */
int64_t tsdb_compact(tsdb *db, errbuf *err);

/* Deletes chunks that retention no longer covers (by time relative to the
 * newest sample, then by size), whole chunks at a time, and series left
 * without data.  Returns the number of chunks deleted, or -1. */
long tsdb_apply_retention(tsdb *db, errbuf *err);

/* ------------------------------------------------------------- reading */

typedef struct tsdb_reader tsdb_reader;

typedef struct tsdb_series {
    tsdb_ref ref;
    const label *labels;   /* sorted; owned by the reader */
    size_t nlabels;
} tsdb_series;

typedef struct tsdb_samples {
    const int64_t *t;      /* owned by the reader */
    const double *v;
    size_t n;
} tsdb_samples;

/* A consistent snapshot for reading.  Keep readers short: while one is open
 * the pages it sees cannot be reused. */
int tsdb_reader_open(tsdb *db, tsdb_reader **out, errbuf *err);
void tsdb_reader_close(tsdb_reader *r);

/* Series matching all matchers (resolved from postings) that have samples in
 * [mint, maxt], sorted by label set.  The result array is owned by the reader. */
int tsdb_select(tsdb_reader *r, const matcher *m, size_t n, int64_t mint, int64_t maxt,
                const tsdb_series **out, size_t *count, errbuf *err);

/* Samples of a series (as returned by tsdb_select on this reader) in
 * [mint, maxt], in time order. */
int tsdb_read(tsdb_reader *r, tsdb_ref ref, int64_t mint, int64_t maxt, tsdb_samples *out,
              errbuf *err);

/* The newest sample of a series in [mint, maxt]: 1 with *t and *v set, 0
 * when the range holds none, -1 with err set.  Usually answered from the
 * head without decoding a chunk, which is what instant queries need. */
int tsdb_read_last(tsdb_reader *r, tsdb_ref ref, int64_t mint, int64_t maxt, int64_t *t, double *v, errbuf *err);

/* The newest n (1 or 2) samples of a series in [mint, maxt] that are not
 * staleness markers, oldest first in t[] and v[]: returns how many (0..n),
 * or -1 with err set.  The head keeps a series' two newest samples, so an
 * instant irate or idelta costs no chunk decoding. */
int tsdb_read_newest(tsdb_reader *r, tsdb_ref ref, int64_t mint, int64_t maxt, int n, int64_t *t, double *v,
                     errbuf *err);

/* All label names, sorted; and all values of one name, sorted.  Arrays and
 * strings are owned by the reader. */
typedef struct { const char *s; size_t len; } tsdb_str;
int tsdb_label_names(tsdb_reader *r, const tsdb_str **out, size_t *count, errbuf *err);
int tsdb_label_values(tsdb_reader *r, const char *name, const tsdb_str **out, size_t *count,
                      errbuf *err);

/* ------------------------------------------------------------- records */

/* A small key-value store beside the samples, for state the server keeps
 * across restarts (managed targets, silences, the notification log).  Each
 * caller uses its own namespace ("admin", "silences", ...); keys sort
 * bytewise within it.  Every put and delete is one durable transaction, so
 * it is meant for records that change now and then, not per sample.
 * Threads: any thread (LMDB serialises the transactions).  Values returned
 * by tsdb_kv_get are malloc'd and owned by the caller. */
int tsdb_kv_put(tsdb *db, const char *ns, const void *key, size_t klen, const void *val, size_t vlen, errbuf *err);
/* Returns 0 when deleted, 1 when there was no such record, -1 on error. */
int tsdb_kv_delete(tsdb *db, const char *ns, const void *key, size_t klen, errbuf *err);
/* Returns 1 with *val (malloc'd, NUL-terminated for convenience) and *vlen
 * set, 0 when absent, -1 on error. */
int tsdb_kv_get(tsdb *db, const char *ns, const void *key, size_t klen, void **val, size_t *vlen, errbuf *err);
/* Several puts (val non-NULL) and deletes (val NULL; an absent record is
 * no error) in one durable transaction: all of them happen or none. */
typedef struct {
    const char *ns;
    const void *key;
    size_t klen;
    const void *val;
    size_t vlen;
} tsdb_kv_change;
int tsdb_kv_write(tsdb *db, const tsdb_kv_change *changes, size_t n, errbuf *err);
/* Calls fn for every record of ns in key order, from one consistent
 * snapshot; stops early when fn returns nonzero.  Returns 0 or -1. */
typedef int (*tsdb_kv_fn)(void *ctx, const void *key, size_t klen, const void *val, size_t vlen);
int tsdb_kv_each(tsdb *db, const char *ns, tsdb_kv_fn fn, void *ctx, errbuf *err);

/* ------------------------------------------------------------- counters */

/* Running totals since the database was opened, cheap to read from any
 * thread (for /metrics): taken under the head's read lock. */
typedef struct tsdb_counters {
    uint64_t samples_appended;   /* accepted into the head                  */
    uint64_t out_of_order;       /* rejected: older than the newest sample  */
    uint64_t duplicate;          /* rejected: same time, another value      */
    uint64_t series_created;
    uint64_t head_series;        /* series in memory now                    */
    uint64_t commits;            /* appender batches made durable           */
    uint64_t wal_bytes;          /* WAL file size now                       */
} tsdb_counters;

void tsdb_counters_get(tsdb *db, tsdb_counters *out);

/* ------------------------------------------------------------- statistics */

typedef struct tsdb_count { const char *name; uint64_t count; } tsdb_count;

typedef struct tsdb_stats {
    uint64_t series, samples, chunks, head_samples, head_series;
    uint64_t disk_bytes;        /* every file in the data folder              */
    uint64_t used_bytes;        /* LMDB pages in use (excluding free pages)   */
    uint64_t chunk_bytes;       /* sealed chunk payloads                      */
    uint64_t wal_bytes;         /* WAL records not yet trimmed                */
    int64_t min_time, max_time; /* INT64_MAX/INT64_MIN when empty             */
    tsdb_count top_metrics[10]; /* metric names with most series              */
    size_t n_top_metrics;
    tsdb_count top_label_values[10]; /* label names with most values          */
    size_t n_top_label_values;
    tsdb_count top_label_pairs[10];  /* name=value pairs with most series     */
    size_t n_top_label_pairs;
} tsdb_stats;

/* Fills *st; names point into the reader's arena. */
int tsdb_stats_collect(tsdb_reader *r, tsdb_stats *st, errbuf *err);

#endif
