/*
 * append.c - the appender: resolves series and commits batches.
 *
 * A commit chooses how to make its batch durable:
 *  - WAL mode (few samples per series, e.g. one scrape): the batch's new
 *    series (if any) are committed to the index, then one record is appended
 *    to the WAL file and synced; the samples then enter the head.  Sealed
 *    chunks are written out once a few MiB of them wait; open-chunk
 *    snapshots at the next checkpoint, which the WAL's size triggers.
 *  - Direct mode (many samples per series, e.g. an import block): the samples
 *    enter the head first, then one transaction writes the touched series'
 *    new labels, sealed chunks and open-chunk snapshots.  No WAL bytes are
 *    written, which is what makes a backfill cheap and leaves no free pages
 *    behind.
 * Either way the commit returns only after an fsync: acknowledged means
 * durable.  Validation (out of order, duplicate) happens when samples enter
 * the head; WAL replay repeats it in the same order, so it decides the same.
 */
#include <stdlib.h>

#include "tsdb/tsdb_int.h"

/* How many samples ahead the commit loops prefetch a series and its open
 * chunk: enough to cover a memory access behind a sample's work. */
#define PREFETCH_AHEAD 8

struct tsdb_appender {
    tsdb *db;
    tsdb_ref *sid;
    int64_t *t;
    double *v;
    size_t n, cap;
    head_series **series;   /* series of each sample, resolved once per commit */
    head_series **touched;
    size_t ntouched, touched_cap;
    buf enc;       /* label encoding scratch */
    buf rec;       /* WAL record scratch */
    uint64_t new_series;
};

tsdb_appender *tsdb_appender_new(tsdb *db) {
    tsdb_appender *a = xcalloc(1, sizeof *a);
    a->db = db;
    return a;
}

void tsdb_appender_free(tsdb_appender *a) {
    if (!a) return;
    free(a->sid);
    free(a->t);
    free(a->v);
    free(a->series);
    free(a->touched);
    buf_free(&a->enc);
    buf_free(&a->rec);
    free(a);
}

size_t tsdb_appender_pending(const tsdb_appender *a) { return a->n; }

void tsdb_appender_add(tsdb_appender *a, tsdb_ref ref, int64_t t, double v) {
    if (a->n == a->cap) {
        a->cap = a->cap ? a->cap * 2 : 1024;
        a->sid = xrealloc(a->sid, a->cap * sizeof *a->sid);
        a->t = xrealloc(a->t, a->cap * sizeof *a->t);
        a->v = xrealloc(a->v, a->cap * sizeof *a->v);
        a->series = xrealloc(a->series, a->cap * sizeof *a->series);
    }
    a->sid[a->n] = ref;
    a->t[a->n] = t;
    a->v[a->n] = v;
    a->n++;
}

/* Checks a label set against the data model and canonicalises it. */
static int validate_labels(label *l, size_t *np, errbuf *err) {
    size_t n = 0;
    for (size_t i = 0; i < *np; i++) {
        if (l[i].value_len == 0) continue; /* an empty value means "no label" */
        if (!label_name_valid(l[i].name, l[i].name_len))
            return errf(err, "invalid label name \"%.*s\"", (int)l[i].name_len, l[i].name);
        if (!utf8_valid(l[i].value, l[i].value_len))
            return errf(err, "label %.*s has an invalid UTF-8 value", (int)l[i].name_len, l[i].name);
        l[n++] = l[i];
    }
    if (n == 0) return errf(err, "a series needs at least one label with a non-empty value");
    if (n > 256) return errf(err, "a series may have at most 256 labels, this one has %zu", n);
    labels_sort(l, n);
    long d = labels_find_duplicate(l, n);
    if (d >= 0) return errf(err, "label %.*s is given twice", (int)l[d].name_len, l[d].name);
    *np = n;
    return 0;
}

static int appender_ref_locked(tsdb_appender *a, label *labels, size_t n, tsdb_ref *ref, errbuf *err);

int tsdb_appender_ref(tsdb_appender *a, label *labels, size_t n, tsdb_ref *ref, errbuf *err) {
    pthread_mutex_lock(&a->db->writer_mu);
    int rc = appender_ref_locked(a, labels, n, ref, err);
    pthread_mutex_unlock(&a->db->writer_mu);
    return rc;
}

static int appender_ref_locked(tsdb_appender *a, label *labels, size_t n, tsdb_ref *ref, errbuf *err) {
    tsdb *db = a->db;
    if (validate_labels(labels, &n, err)) return -1;
    uint64_t hash = labels_hash(labels, n);
    buf_reset(&a->enc);
    buf_reserve(&a->enc, labels_encoded_len(labels, n));
    a->enc.len = labels_encode(labels, n, a->enc.data);

    /* In the head already?  Compare against pending labels in memory, or
     * against the index for persisted series. */
    MDB_txn *txn = NULL;
    head_series *found = NULL;
    size_t pos = SIZE_MAX;
    for (head_series *s; (s = smap_next(&db->by_hash, hash, &pos));) {
        if (s->pending_labels) {
            if (s->pending_labels_len == a->enc.len && !memcmp(s->pending_labels, a->enc.data, a->enc.len)) {
                found = s;
                break;
            }
            continue;
        }
        if (!txn && db_read_begin(db, &txn, err)) return -1;
        MDB_val lv;
        if (index_get_labels(db, txn, s->sid, &lv) == 0 && lv.mv_size == a->enc.len &&
            !memcmp(lv.mv_data, a->enc.data, a->enc.len)) {
            found = s;
            break;
        }
    }
    if (found) {
        if (txn) db_read_end(db, txn);
        *ref = found->sid;
        return 0;
    }
    if (!txn && db_read_begin(db, &txn, err)) return -1;
    tsdb_ref sid;
    pthread_rwlock_wrlock(&db->head_lock);
    if (index_find_series(db, txn, labels, n, hash, a->enc.data, a->enc.len, &sid)) {
        found = head_get(db, txn, sid);
    } else {
        found = head_series_new(db, db->next_sid++, hash);
        found->pending_labels = xmalloc(a->enc.len);
        memcpy(found->pending_labels, a->enc.data, a->enc.len);
        found->pending_labels_len = (uint32_t)a->enc.len;
        head_mark_dirty(db, found, 0);
        a->new_series++;
    }
    pthread_rwlock_unlock(&db->head_lock);
    db_read_end(db, txn);
    if (!found) return errf(err, "series index of %s is inconsistent", db->path);
    *ref = found->sid;
    return 0;
}

static void touch(tsdb_appender *a, head_series *s) {
    if (s->flags & HS_TOUCHED) return;
    s->flags |= HS_TOUCHED;
    if (a->ntouched == a->touched_cap) {
        a->touched_cap = a->touched_cap ? a->touched_cap * 2 : 256;
        a->touched = xrealloc(a->touched, a->touched_cap * sizeof *a->touched);
    }
    a->touched[a->ntouched++] = s;
}

static void untouch_all(tsdb_appender *a) {
    for (size_t i = 0; i < a->ntouched; i++) a->touched[i]->flags &= ~(uint32_t)HS_TOUCHED;
    a->ntouched = 0;
}

/* Enters the batch into the head under the write lock, counting outcomes
 * (in *st and in the database's running counters).  The series were
 * resolved by tsdb_appender_commit() (a->series). */
static void apply_batch(tsdb_appender *a, tsdb_append_stats *st) {
    tsdb *db = a->db;
    pthread_rwlock_wrlock(&db->head_lock);
    for (size_t i = 0; i < a->n; i++) {
        head_series *s = a->series[i];
        /* The byte of the open chunk that the sample a few on goes to:
         * like the series, it has been out of the cache since the last
         * scrape. */
        const head_series *ahead = i + PREFETCH_AHEAD < a->n ? a->series[i + PREFETCH_AHEAD] : NULL;
        if (ahead && ahead->chunk.buf) __builtin_prefetch(ahead->chunk.buf + ahead->chunk.nbits / 8, 1);
        if (!s) {
            st->unknown_ref++;
            continue;
        }
        switch (head_append(db, s, a->t[i], a->v[i])) {
        case 0: st->appended++; break;
        case 1: st->out_of_order++; break;
        case 2: st->duplicate++; break;
        default: st->identical++; break;
        }
    }
    db->counters.samples_appended += st->appended;
    db->counters.out_of_order += st->out_of_order;
    db->counters.duplicate += st->duplicate;
    db->counters.series_created += st->new_series;
    db->counters.commits++;
    pthread_rwlock_unlock(&db->head_lock);
}

/* WAL mode, before the record is written: the batch's new series go into
 * the index, so that the record never names a series a crash could lose.
 * touched[from, to) is one group of them. */
typedef struct {
    tsdb_appender *a;
    size_t from, to;
} new_series_ctx;

static int new_series_txn(tsdb *db, MDB_txn *txn, void *vctx, errbuf *err) {
    new_series_ctx *c = vctx;
    for (size_t i = c->from; i < c->to; i++) {
        head_series *s = c->a->touched[i];
        if (!s->pending_labels) continue;
        int rc = index_put_series(db, txn, s->sid, s->hash, s->pending_labels, s->pending_labels_len, err);
        if (rc) return rc;
    }
    return db_put_counters(db, txn);
}

static int direct_txn(tsdb *db, MDB_txn *txn, void *ctx, errbuf *err) {
    (void)ctx;
    int all;
    return head_persist(db, txn, 1, 0, &all, err);
}

/* Touched series in [from, to) whose labels a committed transaction wrote
 * no longer need them in memory. */
static void drop_pending_labels(tsdb *db, tsdb_appender *a, size_t from, size_t to) {
    pthread_rwlock_wrlock(&db->head_lock);
    for (size_t i = from; i < to; i++) {
        head_series *s = a->touched[i];
        free(s->pending_labels);
        s->pending_labels = NULL;
        s->pending_labels_len = 0;
    }
    pthread_rwlock_unlock(&db->head_lock);
}

/* Commits the touched series' new labels in groups of NEW_SERIES_PER_TXN.
 * Why groups: every transaction's dirty pages stay in LMDB's page pool for
 * good, and new series land all over the hash and postings trees (a page
 * each), so one transaction for the 10k new series of a large target would
 * pin tens of MiB; a group costs a sync, which only new series pay. */
static int commit_new_series(tsdb *db, tsdb_appender *a, errbuf *err) {
    size_t i = 0;
    while (i < a->ntouched) {
        size_t j = i, k = 0;
        while (j < a->ntouched && k < NEW_SERIES_PER_TXN) k += a->touched[j++]->pending_labels != NULL;
        if (k == 0) break;
        new_series_ctx c = {a, i, j};
        if (db_write(db, new_series_txn, &c, err)) return -1;
        drop_pending_labels(db, a, i, j);
        i = j;
    }
    if (i) db_release_map(db);
    return 0;
}

static int appender_commit_locked(tsdb_appender *a, tsdb_append_stats *st, errbuf *err);

int tsdb_appender_commit(tsdb_appender *a, tsdb_append_stats *st, errbuf *err) {
    pthread_mutex_lock(&a->db->writer_mu);
    int rc = appender_commit_locked(a, st, err);
    pthread_mutex_unlock(&a->db->writer_mu);
    return rc;
}

static int appender_commit_locked(tsdb_appender *a, tsdb_append_stats *st, errbuf *err) {
    tsdb *db = a->db;
    tsdb_append_stats local;
    if (!st) st = &local;
    memset(st, 0, sizeof *st);
    st->new_series = a->new_series;
    a->new_series = 0;
    if (a->n == 0) return 0;

    MDB_txn *txn;
    if (db_read_begin(db, &txn, err)) return -1;
    /* Resolve the touched series (loading evicted ones) to pick the mode. */
    pthread_rwlock_wrlock(&db->head_lock);
    head_series *s = NULL;
    for (size_t i = 0; i < a->n; i++) {
        /* A scrape's series were last touched a whole interval ago, by
         * then long out of the cache: fetch a few ahead while this one is
         * worked on (both lines: touch() reads flags, appending the rest). */
        if (i + PREFETCH_AHEAD < a->n) {
            const head_series *ahead = sidt_get(&db->by_sid, a->sid[i + PREFETCH_AHEAD]);
            if (ahead) {
                __builtin_prefetch(ahead, 1);
                __builtin_prefetch((const char *)ahead + 64, 1);
            }
        }
        if (!s || s->sid != a->sid[i]) s = head_get(db, txn, a->sid[i]);
        a->series[i] = s; /* apply_batch reuses it: nothing frees series in between */
        if (s) touch(a, s);
    }
    pthread_rwlock_unlock(&db->head_lock);
    int direct = a->ntouched > 0 && a->n >= a->ntouched * DIRECT_BATCH_RATIO;
    int rc = 0;
    if (direct) {
        apply_batch(a, st);
        db_read_end(db, txn);
        for (size_t i = 0; i < a->ntouched; i++) head_mark_dirty(db, a->touched[i], 0);
        if (db_write(db, direct_txn, a, err)) {
            rc = -1;
        } else {
            head_after_persist(db);
            db_release_map(db);
        }
    } else {
        db_read_end(db, txn);
        wal_encode(a->sid, a->t, a->v, a->n, &a->rec);
        if (commit_new_series(db, a, err)) {
            rc = -1;
        } else {
            if (wal_append(db, a->rec.data, a->rec.len, err)) rc = -1;
            else apply_batch(a, st); /* the series are resolved: no transaction needed */
        }
    }
    untouch_all(a);
    a->n = 0;
    if (rc == 0 && db->wal_bytes > db->opts.checkpoint_wal_bytes) rc = tsdb_checkpoint(db, err);
    else if (rc == 0 && db->sealed_bytes > SEALED_PERSIST_BYTES) rc = db_persist_dirty(db, err);
    return rc;
}
