/*
 * tsdb_int.h - internals shared by the tsdb/ source files.  Not for use
 * outside tsdb/.
 *
 * Files of a data folder DIR: data.mdb and lock.mdb (LMDB), wal (the
 * write-ahead log, wal.c), lock (keeps a second process out).
 *
 * LMDB databases (named, in one environment, file DIR/data.mdb):
 *   meta     "format" -> TSDB_FORMAT, "next_sid" -> u64, "max_time" -> u64,
 *            "head_db" -> u64 (0 or 1: which of head0/head1 is current)
 *   series   sid(be64) -> labels_encode(labels)
 *   shash    hash(be64) -> sid(be64)       DUPSORT: label-set hash -> series
 *   postings name 0x00 value -> sid(be64)  DUPSORT|DUPFIXED; the key "" 0x00 ""
 *            lists every series.  Values longer than POSTING_VALUE_MAX are
 *            cut there and followed by 0x01 and their hash.
 *   chunks   sid(be64) maxt(be64, sign-flipped) -> sealed chunk
 *   kv       ns 0x00 key -> value: tsdb_kv_* records (kv.c)
 *   head0, head1
 *            sid(be64) -> sealed encoding of the open chunk's samples.  A
 *            checkpoint writes every open chunk into the one not current and
 *            then makes it current, so the old snapshots are dropped whole
 *            instead of being rewritten page by page.
 *
 * Locks, outermost first:
 *   writer_mu   recursive mutex: held by every writing call (appender
 *               ref and commit, checkpoint, compaction, retention), so
 *               several threads may write (the scrape thread, rule
 *               groups), one call at a time.
 *   env_lock    rwlock: shared by every open LMDB transaction, exclusive while
 *               the map is resized (LMDB requires no transaction then).
 *   head_lock   rwlock: exclusive while the writer changes head series, shared
 *               while a reader copies head data.
 *   readers_mu  guards the list of open readers' generations.
 */
#ifndef PROMLITE_TSDB_INT_H
#define PROMLITE_TSDB_INT_H

#include <lmdb.h>
#include <pthread.h>

#include "tsdb/chunkenc.h"
#include "tsdb/tsdb.h"

#define TSDB_FORMAT "promlite-tsdb-2"
#define DEFAULT_CHUNK_MAX_SAMPLES 240
#define CHUNK_CUT_BYTES 1024          /* keeps sealed chunks out of overflow pages */
#define POSTING_VALUE_MAX 400         /* LMDB keys are at most 511 bytes */
#define WAL_CHECKPOINT_BYTES (64u << 20)   /* default; tsdb_options can lower it */
#define SEALED_PERSIST_BYTES (4u << 20)    /* unpersisted sealed chunks that
                                              trigger writing them out        */
#define CHECKPOINT_TXN_BYTES (2u << 20)   /* bytes per checkpoint transaction  */
#define NEW_SERIES_PER_TXN 256            /* new series per index transaction  */
#define DIRECT_BATCH_RATIO 8          /* samples per touched series above which a
                                         batch persists chunks instead of a WAL record */

/* A chunk the head has sealed; kept in memory until it is persisted and no
 * reader that might not see the persisted copy is open. */
typedef struct sealed_chunk {
    struct sealed_chunk *next;
    int64_t mint, maxt;
    uint64_t persisted_gen;           /* 0 = not yet in LMDB */
    uint32_t len;
    uint8_t data[];
} sealed_chunk;

enum {
    HS_DIRTY = 1,        /* on db->dirty: labels or sealed chunks unpersisted  */
    HS_TOUCHED = 4,      /* on the current batch's touched list                */
    HS_WRITTEN = 8,      /* written by the transaction head_persist() filled   */
};

/* One series in the head.  Labels are not kept in memory once the series is
 * persisted: the index has them, and memory per series is the budget that
 * decides how many series one machine can hold. */
typedef struct head_series {
    tsdb_ref sid;
    uint64_t hash;
    int64_t last_t;                   /* newest timestamp stored anywhere      */
    uint64_t last_v;                  /* its value's bits                      */
    /* The sample before it, INT64_MIN when unknown (a series loaded from
     * disk): with the newest, what irate and idelta need of an instant
     * query without decoding the open chunk (tsdb_read_newest). */
    int64_t prev_t;
    uint64_t prev_v;
    open_chunk chunk;
    sealed_chunk *sealed;             /* oldest first                          */
    uint8_t *pending_labels;          /* encoded labels until persisted        */
    uint32_t pending_labels_len;
    uint32_t flags;
} head_series;

/* Samples in a series' open chunk. */
static inline uint32_t head_open_samples(const head_series *s) { return s->chunk.count; }

/* Open-addressing map from a 64-bit key to a series; keys may repeat (label
 * hash collisions), so lookups walk every slot with the key. */
typedef struct series_map {
    head_series **slots;
    size_t cap, count;                /* cap is a power of two                 */
    int by_hash;                      /* key is ->hash, else ->sid             */
} series_map;

void smap_init(series_map *m, int by_hash);
void smap_free(series_map *m);
void smap_put(series_map *m, head_series *s);
void smap_del(series_map *m, head_series *s);
/* Iterates the series with key k: start with *pos = SIZE_MAX. */
head_series *smap_next(const series_map *m, uint64_t k, size_t *pos);

/* The series by id.  Ids are handed out in sequence (next_sid), so a table
 * of pages of SIDT_PAGE pointers, indexed by id, finds a series with one
 * dependent load and no hashing; a scrape's series have neighbouring ids
 * (they were created together), so its lookups share cache lines.  A page
 * is freed when its last series goes, so ids freed by retention cost
 * nothing once their whole page is gone.  Compared with the hash map it
 * replaced: 8 bytes a series instead of 16 to 23, and no pointer chase into
 * every probed series to compare its key (the commit path's main cache
 * miss). */
#define SIDT_PAGE 512
typedef struct sid_table {
    head_series ***pages;             /* pages[sid / SIDT_PAGE], NULL if empty */
    uint32_t *live;                   /* series in each page                   */
    size_t npages, count;
} sid_table;

void sidt_free(sid_table *t);
void sidt_put(sid_table *t, head_series *s);
void sidt_del(sid_table *t, head_series *s);
static inline head_series *sidt_get(const sid_table *t, tsdb_ref sid) {
    size_t p = (size_t)(sid / SIDT_PAGE);
    return p < t->npages && t->pages[p] ? t->pages[p][sid % SIDT_PAGE] : NULL;
}
/* Iterates in id order: start with *pos = 0; NULL at the end. */
head_series *sidt_next(const sid_table *t, size_t *pos);

typedef struct reader_gen {
    struct reader_gen *next, *prev;
    uint64_t gen;
} reader_gen;

struct tsdb {
    char *path;
    int lock_fd;
    MDB_env *env;
    MDB_dbi dbi_meta, dbi_series, dbi_shash, dbi_postings, dbi_chunks, dbi_head[2], dbi_kv;
    int head_cur;                     /* index of the current head snapshot db */
    int wal_fd;                       /* DATA/wal, -1 when not open            */
    uint64_t map_bytes;
    tsdb_options opts;

    pthread_mutex_t writer_mu;
    pthread_rwlock_t env_lock;
    pthread_rwlock_t head_lock;
    pthread_mutex_t readers_mu;
    reader_gen readers;               /* sentinel of a circular list           */

    /* Head state: changed under the writer lock and head_lock. */
    series_map by_hash;
    sid_table by_sid;
    head_series **dirty;              /* series with HS_DIRTY                   */
    size_t ndirty, dirty_cap;
    tsdb_ref next_sid;
    uint64_t wal_bytes;               /* WAL record bytes since the last trim   */
    double wal_synced_at;             /* mono_seconds() of the last WAL sync    */
    uint64_t sealed_bytes;            /* unpersisted sealed chunk bytes         */
    uint64_t persist_gen;             /* count of committed persist txns        */
    int64_t max_time;                 /* newest sample in the database          */
    tsdb_counters counters;           /* under head_lock (written exclusively)  */

    /* Scratch for sealing and encoding, reused (writer only). */
    int64_t *scratch_t;
    double *scratch_v;
    uint8_t *scratch_enc;
};

/* ---- db.c */
/* Runs fn in a write transaction and commits; grows the map and retries when
 * it is full.  fn must be repeatable (it may run twice). */
typedef int (*txn_fn)(tsdb *db, MDB_txn *txn, void *ctx, errbuf *err);
int db_write(tsdb *db, txn_fn fn, void *ctx, errbuf *err);
/* Formats an LMDB error for the data folder. */
int db_error(tsdb *db, errbuf *err, const char *what, int rc);
int db_read_begin(tsdb *db, MDB_txn **txn, errbuf *err);
/* Unmaps the pages of LMDB's map from this process (MADV_DONTNEED), after
 * a bulk write.  Why: inserting a chunk copies the B-tree leaf it lands in,
 * and each series' new chunk lands in another leaf, so every persist reads
 * a page per series through the map; those pages would stay mapped and
 * count in the process's memory, while they are only needed again at that
 * series' next chunk.  The map is read-only and shared (LMDB writes with
 * pwrite), so this drops no data: the pages stay in the page cache, where
 * the kernel reclaims them as it needs, and the next access maps them back
 * in without I/O while they are cached. */
void db_release_map(tsdb *db);
void db_read_end(tsdb *db, MDB_txn *txn);
uint64_t db_min_reader_gen(tsdb *db);
/* Writes next_sid and max_time to meta (every persist carries them). */
int db_put_counters(tsdb *db, MDB_txn *txn);
/* Writes the labels and sealed chunks of every dirty series (checkpoint
 * step 1 alone), in bounded transactions. */
int db_persist_dirty(tsdb *db, errbuf *err);

/* ---- head.c */
head_series *head_series_new(tsdb *db, tsdb_ref sid, uint64_t hash);
void head_series_free(head_series *s);
void head_mark_dirty(tsdb *db, head_series *s, uint32_t flags);
/* Appends one sample to a series, sealing the open chunk when full.
 * Returns 0 or a rejection: 1 out of order, 2 duplicate, 3 identical. */
int head_append(tsdb *db, head_series *s, int64_t t, double v);
/* Decodes a series' open chunk into ts/vs, which hold chunk_max_samples + 8 entries.  Returns the count
 * or -1 if something is corrupt. */
int head_open_decode(const head_series *s, int64_t *ts, double *vs);
/* Oldest timestamp of the open chunk (INT64_MAX when empty). */
int64_t head_open_mint(const head_series *s);
/* Drops the open chunk's samples from memory. */
void head_open_drop(head_series *s);
/* Seals the open chunk now (used before persisting a series' chunk as a
 * whole is not needed: snapshots cover open chunks). */
void head_seal(tsdb *db, head_series *s);
/* Finds or loads (from the index) the head series of sid; NULL if unknown. */
head_series *head_get(tsdb *db, MDB_txn *txn, tsdb_ref sid);
/* Frees sealed chunks persisted before every open reader started. */
void head_release_persisted(tsdb *db);
/* Writes the new labels and unpersisted sealed chunks of the dirty series
 * (only those on the current batch's touched list when only_touched is set,
 * and then their open-chunk snapshots into the current head db too) in txn,
 * and marks them HS_WRITTEN.  With a nonzero budget it stops once about
 * that many bytes are written, and *all_written tells whether every series
 * was.  The caller commits, then calls head_after_persist(), which settles
 * the series marked HS_WRITTEN. */
int head_persist(tsdb *db, MDB_txn *txn, int only_touched, uint64_t budget, int *all_written, errbuf *err);
/* Encodes a series' open chunk as a snapshot into db->scratch_enc; returns
 * its length (0 for an empty chunk) or -1 if the chunk is corrupt. */
long head_snapshot(tsdb *db, head_series *s);
void head_after_persist(tsdb *db);

/* ---- index.c */
int index_put_series(tsdb *db, MDB_txn *txn, tsdb_ref sid, uint64_t hash, const uint8_t *enc,
                     size_t len, errbuf *err);
/* Looks up a series by its sorted labels; returns 1 and sets *sid if found. */
int index_find_series(tsdb *db, MDB_txn *txn, const label *l, size_t n, uint64_t hash,
                      const uint8_t *enc, size_t enc_len, tsdb_ref *sid);
int index_get_labels(tsdb *db, MDB_txn *txn, tsdb_ref sid, MDB_val *val);
/* Postings key for name=value into out (>= 512 bytes); returns its length. */
size_t postings_key(const char *name, size_t nlen, const char *value, size_t vlen, uint8_t *out);
/* Deletes a series with no data left from the index. */
int index_delete_series(tsdb *db, MDB_txn *txn, tsdb_ref sid, errbuf *err);

/* ---- wal.c */
/* Encodes (sid, t, v) triples of a batch into a snappy-compressed record. */
void wal_encode(const tsdb_ref *sid, const int64_t *t, const double *v, size_t n, buf *out);
typedef void (*wal_sample_fn)(void *ctx, tsdb_ref sid, int64_t t, double v);
int wal_decode(const uint8_t *rec, size_t len, wal_sample_fn fn, void *ctx);
/* Opens (creating when writable) DATA/wal and sets db->wal_bytes. */
int wal_open(tsdb *db, errbuf *err);
void wal_close(tsdb *db);
/* Appends one record and syncs it: when this returns 0 it survives a crash. */
int wal_append(tsdb *db, const uint8_t *rec, size_t len, errbuf *err);
/* Calls fn for every sample of every intact record, in order; cuts a torn
 * tail off (with a warning) unless the database is read-only. */
int wal_replay(tsdb *db, wal_sample_fn fn, void *ctx, errbuf *err);
/* Empties the log (after a checkpoint made its records redundant). */
int wal_reset(tsdb *db, errbuf *err);

/* ---- read.c: reader internals for stats.c */
tsdb *reader_db(tsdb_reader *r);
MDB_txn *reader_txn(tsdb_reader *r);
void *reader_alloc(tsdb_reader *r, size_t n);   /* from the reader's arena */

/* ---- retention.c */
/* LMDB pages in use in every database, free list included, in bytes. */
uint64_t db_used_bytes(tsdb *db, MDB_txn *txn);

/* chunk keys */
static inline void chunk_key(uint8_t key[16], tsdb_ref sid, int64_t maxt) {
    be64_put(key, sid);
    be64_put_i(key + 8, maxt);
}

#endif
