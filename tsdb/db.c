/*
 * db.c - opening, recovering, checkpointing and closing the database, and the
 * LMDB transaction helpers the rest of tsdb/ uses.
 *
 * Recovery is two steps, both idempotent: load the current open-chunk
 * snapshots, then replay the WAL file, in both cases skipping samples at or
 * before a series' newest stored timestamp (appends are strictly increasing
 * per series, so that test is exact and any mix of older and newer copies
 * of the same samples merges correctly).  A checkpoint right after replay
 * empties the WAL, so a crash loop cannot grow it.
 *
 * A checkpoint is three steps, each safe to interrupt: (1) write the new
 * labels and sealed chunks of dirty series, in transactions of bounded
 * size; (2) write every non-empty open chunk into the head db that is not
 * current (emptied first: dropping a database whole reads only its branch
 * pages, where rewriting snapshots in place would read and copy every leaf),
 * bounded transactions again, the last one making it current; (3) empty the
 * WAL.  A crash before (2) ends leaves the old snapshots current and the WAL
 * whole; after it, the WAL only repeats stored samples.
 *
 * The LMDB map starts at max(1 GiB, twice the file) and doubles whenever a
 * write transaction reports MDB_MAP_FULL: the transaction is aborted, every
 * reader is drained through env_lock, the map is resized, and the
 * transaction function runs again.  Running out of disk is different: the
 * transaction is aborted (LMDB leaves the file consistent) and the error
 * names the folder; the same write can be retried once space is freed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/statvfs.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tsdb/tsdb_int.h"

#define MIN_MAP_BYTES (1ULL << 30)

/* LMDB reports a short write as EIO, and a write that hits a full disk or
 * the file size limit is usually short rather than failed: look at the file
 * system and the limit to tell the user which one it is.  Returns a
 * description, or NULL when neither explains the error. */
static const char *space_shortage(const char *path, char *out, size_t outlen) {
    char file[4200];
    snprintf(file, sizeof file, "%s/data.mdb", path);
    struct stat st;
    struct rlimit rl;
    if (stat(file, &st) == 0 && getrlimit(RLIMIT_FSIZE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        (uint64_t)st.st_size + (1u << 20) >= (uint64_t)rl.rlim_cur) {
        snprintf(out, outlen, "the file size limit (ulimit -f, %llu bytes) is reached",
                 (unsigned long long)rl.rlim_cur);
        return out;
    }
    struct statvfs vfs;
    if (statvfs(path, &vfs) == 0 && (uint64_t)vfs.f_bavail * vfs.f_frsize < (64u << 20)) {
        snprintf(out, outlen, "only %llu KiB free on its file system",
                 (unsigned long long)vfs.f_bavail * vfs.f_frsize / 1024);
        return out;
    }
    return NULL;
}

int db_error(tsdb *db, errbuf *err, const char *what, int rc) {
    const char *path = db && db->path ? db->path : "?";
    char why[160];
    if (rc == EIO && space_shortage(path, why, sizeof why))
        return errf(err, "%s in %s/data.mdb: %s: %s (no space left for the data folder; stored data is intact, free space and retry)",
                    what, path, mdb_strerror(rc), why);
    if (rc == ENOSPC || rc == EFBIG || rc == EDQUOT)
        return errf(err, "%s in %s/data.mdb: %s (no space left for the data folder; stored data is intact, free space and retry)",
                    what, path, mdb_strerror(rc));
    return errf(err, "%s in %s/data.mdb: %s", what, path, mdb_strerror(rc));
}

/* Doubles the map.  Called with no transaction of this thread open. */
static int grow_map(tsdb *db, errbuf *err) {
    pthread_rwlock_wrlock(&db->env_lock);
    uint64_t want = db->map_bytes * 2;
    int rc = mdb_env_set_mapsize(db->env, want);
    if (rc == 0) db->map_bytes = want;
    pthread_rwlock_unlock(&db->env_lock);
    if (rc) return db_error(db, err, "growing the LMDB map", rc);
    return 0;
}

int db_write(tsdb *db, txn_fn fn, void *ctx, errbuf *err) {
    for (int attempt = 0; attempt < 40; attempt++) {
        MDB_txn *txn;
        pthread_rwlock_rdlock(&db->env_lock);
        int rc = mdb_txn_begin(db->env, NULL, 0, &txn);
        if (rc) {
            pthread_rwlock_unlock(&db->env_lock);
            return db_error(db, err, "starting a write transaction", rc);
        }
        rc = fn(db, txn, ctx, err);
        if (rc == 0) {
            rc = mdb_txn_commit(txn);
            pthread_rwlock_unlock(&db->env_lock);
            if (rc == 0) return 0;
            if (rc != MDB_MAP_FULL) return db_error(db, err, "committing", rc);
        } else {
            mdb_txn_abort(txn);
            pthread_rwlock_unlock(&db->env_lock);
            if (rc != MDB_MAP_FULL) {
                if (rc > 0 || rc < -1) db_error(db, err, "writing", rc);
                return -1;
            }
        }
        if (grow_map(db, err)) return -1;
    }
    return errf(err, "the LMDB map of %s could not be grown enough", db->path);
}

void db_release_map(tsdb *db) {
    /* LMDB does not tell where it mapped the file (mdb_env_info's address
     * is only set with MDB_FIXEDMAP), so look the mapping up by inode. */
    char file[4200];
    snprintf(file, sizeof file, "%s/data.mdb", db->path);
    struct stat st;
    if (stat(file, &st)) return;
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f) return;
    char line[4600];
    while (fgets(line, sizeof line, f)) {
        unsigned long long from, to, inode;
        char perms[8];
        unsigned dev_major, dev_minor;
        unsigned long long off;
        if (sscanf(line, "%llx-%llx %7s %llx %x:%x %llu", &from, &to, perms, &off, &dev_major, &dev_minor,
                   &inode) != 7)
            continue;
        /* Only LMDB's own map: shared, not writable (no MDB_WRITEMAP). */
        if (inode != (unsigned long long)st.st_ino || perms[1] != '-' || perms[3] != 's') continue;
        /* Best effort: a failure only leaves the pages mapped. */
        (void)madvise((void *)(uintptr_t)from, (size_t)(to - from), MADV_DONTNEED);
    }
    fclose(f);
}

int db_read_begin(tsdb *db, MDB_txn **txn, errbuf *err) {
    pthread_rwlock_rdlock(&db->env_lock);
    int rc = mdb_txn_begin(db->env, NULL, MDB_RDONLY, txn);
    if (rc) {
        pthread_rwlock_unlock(&db->env_lock);
        return db_error(db, err, "starting a read transaction", rc);
    }
    return 0;
}

void db_read_end(tsdb *db, MDB_txn *txn) {
    mdb_txn_abort(txn);
    pthread_rwlock_unlock(&db->env_lock);
}

uint64_t db_min_reader_gen(tsdb *db) {
    pthread_mutex_lock(&db->readers_mu);
    uint64_t min = db->persist_gen;
    for (reader_gen *g = db->readers.next; g != &db->readers; g = g->next)
        if (g->gen < min) min = g->gen;
    pthread_mutex_unlock(&db->readers_mu);
    return min;
}

static int get_meta_u64(tsdb *db, MDB_txn *txn, const char *key, uint64_t *v) {
    MDB_val k = {strlen(key), (void *)key}, d;
    if (mdb_get(txn, db->dbi_meta, &k, &d) || d.mv_size != 8) return -1;
    *v = be64_get(d.mv_data);
    return 0;
}

static int put_meta_u64(tsdb *db, MDB_txn *txn, const char *key, uint64_t v) {
    uint8_t b[8];
    be64_put(b, v);
    MDB_val k = {strlen(key), (void *)key}, d = {8, b};
    return mdb_put(txn, db->dbi_meta, &k, &d, 0);
}

/* Creates or opens the named databases and checks the format marker. */
static int open_dbis(tsdb *db, MDB_txn *txn, void *ctx, errbuf *err) {
    (void)ctx;
    struct { const char *name; unsigned flags; MDB_dbi *dbi; } dbs[] = {
        {"meta", 0, &db->dbi_meta},
        {"series", 0, &db->dbi_series},
        {"shash", MDB_DUPSORT, &db->dbi_shash},
        {"postings", MDB_DUPSORT | MDB_DUPFIXED, &db->dbi_postings},
        {"chunks", 0, &db->dbi_chunks},
        {"head0", 0, &db->dbi_head[0]},
        {"head1", 0, &db->dbi_head[1]},
        {"kv", 0, &db->dbi_kv},
    };
    for (size_t i = 0; i < sizeof dbs / sizeof dbs[0]; i++) {
        int rc = mdb_dbi_open(txn, dbs[i].name, dbs[i].flags | MDB_CREATE, dbs[i].dbi);
        if (rc) return rc;
    }
    MDB_val k = {6, "format"}, d;
    int rc = mdb_get(txn, db->dbi_meta, &k, &d);
    if (rc == MDB_NOTFOUND) {
        d.mv_size = strlen(TSDB_FORMAT);
        d.mv_data = TSDB_FORMAT;
        if ((rc = mdb_put(txn, db->dbi_meta, &k, &d, 0))) return rc;
        if ((rc = put_meta_u64(db, txn, "next_sid", 1))) return rc;
    } else if (rc) {
        return rc;
    } else if (d.mv_size != strlen(TSDB_FORMAT) || memcmp(d.mv_data, TSDB_FORMAT, d.mv_size)) {
        errf(err, "%s/data.mdb has format \"%.*s\", this promlite reads \"%s\"", db->path,
             (int)(d.mv_size > 64 ? 64 : d.mv_size), (char *)d.mv_data, TSDB_FORMAT);
        return -1;
    }
    return 0;
}

int db_put_counters(tsdb *db, MDB_txn *txn) {
    int rc = put_meta_u64(db, txn, "next_sid", db->next_sid);
    if (!rc) rc = put_meta_u64(db, txn, "max_time", (uint64_t)db->max_time);
    return rc;
}

/* Loads the current open-chunk snapshots into head series, keeping only
 * samples newer than the series' persisted chunks (a crash between the two
 * steps of a checkpoint leaves snapshots that overlap sealed chunks). */
static int load_head(tsdb *db, MDB_txn *txn, errbuf *err) {
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, db->dbi_head[db->head_cur], &cur);
    if (rc) return db_error(db, err, "reading head snapshots", rc);
    MDB_val k, d;
    size_t cap = db->opts.chunk_max_samples + 8;
    for (rc = mdb_cursor_get(cur, &k, &d, MDB_FIRST); rc == 0; rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT)) {
        if (k.mv_size != 8) continue;
        tsdb_ref sid = be64_get(k.mv_data);
        head_series *s = head_get(db, txn, sid);
        if (!s) continue; /* snapshot of a deleted series */
        int n = chunk_decode(d.mv_data, d.mv_size, db->scratch_t, db->scratch_v, cap);
        if (n < 0) {
            fprintf(stderr, "promlite: warning: %s: head snapshot of series %llu is corrupt; skipped\n",
                    db->path, (unsigned long long)sid);
            continue;
        }
        for (int i = 0; i < n; i++)
            if (db->scratch_t[i] > s->last_t) head_append(db, s, db->scratch_t[i], db->scratch_v[i]);
    }
    mdb_cursor_close(cur);
    return 0;
}

typedef struct {
    tsdb *db;
    MDB_txn *txn;
    uint64_t samples, replayed;
} replay_ctx;

static void replay_sample(void *vctx, tsdb_ref sid, int64_t t, double v) {
    replay_ctx *c = vctx;
    c->samples++;
    head_series *s = head_get(c->db, c->txn, sid);
    if (s && head_append(c->db, s, t, v) == 0) c->replayed++;
}

static int replay_wal(tsdb *db, MDB_txn *txn, uint64_t *replayed, errbuf *err) {
    replay_ctx c = {db, txn, 0, 0};
    int rc = wal_replay(db, replay_sample, &c, err);
    *replayed = c.replayed;
    return rc;
}

/* Takes the folder's lock file so that two processes never share a head. */
static int lock_folder(tsdb *db, errbuf *err) {
    char p[4096];
    snprintf(p, sizeof p, "%s/lock", db->path);
    db->lock_fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (db->lock_fd < 0) return errf(err, "cannot open %s: %s", p, strerror(errno));
    if (flock(db->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        close(db->lock_fd);
        db->lock_fd = -1;
        return errf(err, "data folder %s is in use by another promlite process (lock %s is held)", db->path, p);
    }
    return 0;
}

static int mkdir_p(const char *path) {
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(tmp, 0755) && errno != EEXIST) return -1;
        *p = '/';
    }
    if (mkdir(tmp, 0755) && errno != EEXIST) return -1;
    return 0;
}

/* Opens the LMDB environment of the folder and its databases. */
static int open_env(tsdb *db, errbuf *err) {
    int rc = mdb_env_create(&db->env);
    if (!rc) rc = mdb_env_set_maxdbs(db->env, 16);
    if (!rc) rc = mdb_env_set_maxreaders(db->env, 512);
    if (!rc) rc = mdb_env_set_mapsize(db->env, db->map_bytes);
    if (!rc) rc = mdb_env_open(db->env, db->path, MDB_NOTLS | MDB_NORDAHEAD, 0644);
    if (rc) {
        if (db->env) mdb_env_close(db->env);
        db->env = NULL;
        return db_error(db, err, "opening the database", rc);
    }
    return db_write(db, open_dbis, NULL, err);
}

static int64_t compact_locked(tsdb *db, errbuf *err);

int64_t tsdb_compact(tsdb *db, errbuf *err) {
    pthread_mutex_lock(&db->writer_mu);
    int64_t rc = compact_locked(db, err);
    pthread_mutex_unlock(&db->writer_mu);
    return rc;
}

static int64_t compact_locked(tsdb *db, errbuf *err) {
    if (tsdb_checkpoint(db, err)) return -1;
    char file[4096], tmp[4200];
    snprintf(file, sizeof file, "%s/data.mdb", db->path);
    snprintf(tmp, sizeof tmp, "%s/data.mdb.compact", db->path);
    struct stat st;
    off_t before = stat(file, &st) == 0 ? st.st_size : 0;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return errf(err, "cannot create %s: %s", tmp, strerror(errno));
    int rc = mdb_env_copyfd2(db->env, fd, MDB_CP_COMPACT);
    if (!rc && fsync(fd)) rc = errno;
    close(fd);
    if (rc) {
        unlink(tmp);
        return db_error(db, err, "compacting", rc);
    }
    /* Swap files with the environment closed; the head is fully persisted,
     * so nothing in memory refers to the old file. */
    mdb_env_close(db->env);
    db->env = NULL;
    if (rename(tmp, file)) {
        int e = errno;
        unlink(tmp);
        if (open_env(db, err)) return -1;
        return errf(err, "cannot replace %s: %s", file, strerror(e));
    }
    int dfd = open(db->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    if (open_env(db, err)) return -1;
    off_t after = stat(file, &st) == 0 ? st.st_size : 0;
    return (int64_t)(before - after);
}

static void free_head(tsdb *db) {
    head_series *s;
    for (size_t pos = 0; (s = sidt_next(&db->by_sid, &pos));) head_series_free(s);
    sidt_free(&db->by_sid);
    smap_free(&db->by_hash);
    free(db->dirty);
}

static void db_free(tsdb *db) {
    wal_close(db);
    if (db->env) mdb_env_close(db->env);
    if (db->lock_fd >= 0) close(db->lock_fd);
    free_head(db);
    free(db->scratch_t);
    free(db->scratch_v);
    free(db->scratch_enc);
    pthread_mutex_destroy(&db->writer_mu);
    pthread_rwlock_destroy(&db->env_lock);
    pthread_rwlock_destroy(&db->head_lock);
    pthread_mutex_destroy(&db->readers_mu);
    free(db->path);
    free(db);
}

int tsdb_open(const tsdb_options *opts, tsdb **out, errbuf *err) {
    *out = NULL;
    tsdb *db = xcalloc(1, sizeof *db);
    db->opts = *opts;
    if (!db->opts.chunk_max_samples) db->opts.chunk_max_samples = DEFAULT_CHUNK_MAX_SAMPLES;
    if (db->opts.chunk_max_samples > 65000) db->opts.chunk_max_samples = 65000;
    db->path = xstrndup(opts->path, strlen(opts->path));
    db->lock_fd = -1;
    db->wal_fd = -1;
    db->max_time = INT64_MIN;
    if (!db->opts.checkpoint_wal_bytes) db->opts.checkpoint_wal_bytes = WAL_CHECKPOINT_BYTES;
    /* Recursive: a commit may checkpoint, a compaction checkpoints. */
    pthread_mutexattr_t mattr;
    pthread_mutexattr_init(&mattr);
    pthread_mutexattr_settype(&mattr, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&db->writer_mu, &mattr);
    pthread_mutexattr_destroy(&mattr);
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&db->env_lock, &attr);
    pthread_rwlock_init(&db->head_lock, &attr);
    pthread_rwlockattr_destroy(&attr);
    pthread_mutex_init(&db->readers_mu, NULL);
    db->readers.next = db->readers.prev = &db->readers;
    smap_init(&db->by_hash, 1);
    size_t cap = db->opts.chunk_max_samples + 8;
    db->scratch_t = xmalloc(cap * sizeof(int64_t));
    db->scratch_v = xmalloc(cap * sizeof(double));
    db->scratch_enc = xmalloc(CHUNK_ENCODE_BOUND(cap));

    if (mkdir_p(db->path)) {
        errf(err, "cannot create data folder %s: %s", db->path, strerror(errno));
        goto fail;
    }
    if (lock_folder(db, err)) goto fail;

    char file[4096];
    snprintf(file, sizeof file, "%s/data.mdb", db->path);
    struct stat st;
    uint64_t file_bytes = stat(file, &st) == 0 ? (uint64_t)st.st_size : 0;
    db->map_bytes = opts->initial_map_bytes ? opts->initial_map_bytes : MIN_MAP_BYTES;
    if (db->map_bytes < file_bytes * 2) db->map_bytes = file_bytes * 2;
    db->map_bytes = (db->map_bytes + 65535) & ~65535ULL;

    /* A copy left by a compaction that did not finish is garbage. */
    char leftover[4200];
    snprintf(leftover, sizeof leftover, "%s/data.mdb.compact", db->path);
    unlink(leftover);
    if (open_env(db, err)) goto fail;

    /* Load the head and replay the WAL in one read view. */
    MDB_txn *txn;
    if (db_read_begin(db, &txn, err)) goto fail;
    uint64_t v;
    db->next_sid = get_meta_u64(db, txn, "next_sid", &v) == 0 ? v : 1;
    if (get_meta_u64(db, txn, "max_time", &v) == 0) db->max_time = (int64_t)v;
    db->head_cur = get_meta_u64(db, txn, "head_db", &v) == 0 && v == 1;
    uint64_t replayed = 0;
    int ok = load_head(db, txn, err) == 0 && wal_open(db, err) == 0 && replay_wal(db, txn, &replayed, err) == 0;
    db_read_end(db, txn);
    if (!ok) goto fail;
    if (db->wal_bytes > 0 && !opts->read_only && tsdb_checkpoint(db, err)) goto fail;
    *out = db;
    return 0;
fail:
    db_free(db);
    return -1;
}

/* One transaction of step (1): dirty series up to CHECKPOINT_TXN_BYTES.
 *
 * Why several transactions: LMDB keeps the single pages a write transaction
 * dirtied on a private free list for the environment's lifetime, so the
 * largest transaction sets a floor under the process's memory; one
 * transaction holding the sealed chunks of 100k series would keep tens of
 * MiB.  Splitting is safe because each series is written whole, and
 * recovery skips samples at or before a series' newest stored one. */
static int persist_txn(tsdb *db, MDB_txn *txn, void *ctx, errbuf *err) {
    int *all_written = ctx;
    return head_persist(db, txn, 0, CHECKPOINT_TXN_BYTES, all_written, err);
}

int db_persist_dirty(tsdb *db, errbuf *err) {
    int wrote = 0;
    while (db->ndirty) {
        int all_written = 0;
        if (db_write(db, persist_txn, &all_written, err)) return -1;
        head_after_persist(db);
        wrote = 1;
        if (all_written) break;
    }
    if (wrote) db_release_map(db);
    return 0;
}

typedef struct {
    head_series **series;     /* with a non-empty open chunk, by sid       */
    size_t n, pos, txn_start;
    int target;               /* the head db being filled                  */
} snapshot_ctx;

/* One transaction of step (2): empties the target head db first, appends
 * snapshots in id order (MDB_APPEND fills fresh pages without reading old
 * ones) up to CHECKPOINT_TXN_BYTES, and once all are written makes the
 * target current.  Repeatable: a retry starts again at its first series. */
static int snapshot_txn(tsdb *db, MDB_txn *txn, void *vctx, errbuf *err) {
    snapshot_ctx *c = vctx;
    int rc;
    c->pos = c->txn_start;
    if (c->pos == 0 && (rc = mdb_drop(txn, db->dbi_head[c->target], 0))) return rc;
    uint64_t bytes = 0;
    for (; c->pos < c->n && bytes < CHECKPOINT_TXN_BYTES; c->pos++) {
        head_series *s = c->series[c->pos];
        long len = head_snapshot(db, s);
        if (len < 0) return errf(err, "open chunk of series %llu is corrupt", (unsigned long long)s->sid);
        uint8_t key[8];
        be64_put(key, s->sid);
        MDB_val k = {8, key}, d = {(size_t)len, db->scratch_enc};
        if ((rc = mdb_put(txn, db->dbi_head[c->target], &k, &d, MDB_APPEND))) return rc;
        bytes += 24 + (uint64_t)len;
    }
    if (c->pos < c->n) return 0;
    if ((rc = put_meta_u64(db, txn, "head_db", (uint64_t)c->target))) return rc;
    return db_put_counters(db, txn);
}

static int checkpoint_locked(tsdb *db, errbuf *err);

int tsdb_checkpoint(tsdb *db, errbuf *err) {
    pthread_mutex_lock(&db->writer_mu);
    int rc = checkpoint_locked(db, err);
    pthread_mutex_unlock(&db->writer_mu);
    return rc;
}

static int checkpoint_locked(tsdb *db, errbuf *err) {
    if (db_persist_dirty(db, err)) return -1;
    if (db->wal_bytes == 0) return 0;
    snapshot_ctx c = {.target = !db->head_cur};
    c.series = xmalloc((db->by_sid.count + 1) * sizeof *c.series);
    head_series *s;
    for (size_t pos = 0; (s = sidt_next(&db->by_sid, &pos));) /* in id order */
        if (head_open_samples(s)) c.series[c.n++] = s;
    int rc = 0;
    do {
        if (db_write(db, snapshot_txn, &c, err)) {
            rc = -1;
            break;
        }
        c.txn_start = c.pos;
    } while (c.pos < c.n);
    free(c.series);
    if (rc) return -1;
    db->head_cur = c.target;
    db_release_map(db);
    return wal_reset(db, err);
}

int tsdb_close(tsdb *db, errbuf *err) {
    if (!db) return 0;
    int rc = 0;
    if (!db->opts.read_only) rc = tsdb_checkpoint(db, err);
    db_free(db);
    return rc;
}
