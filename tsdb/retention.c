/*
 * retention.c - deleting old data, whole chunks at a time.
 *
 * By time: every chunk whose newest sample is older than (newest sample in
 * the database - retention) goes.  Chunks are keyed (series, max time), so one
 * pass over the chunks database deletes a series' old chunks from its start
 * and then seeks straight to the next series: O(series + deleted chunks).
 *
 * By size: LMDB pages in use (not the file size: freed pages are reused, the
 * file never shrinks) are compared with the limit; while over it, the oldest
 * slice of the time range is deleted as above, a growing fraction at a time.
 *
 * Deletions run in transactions of bounded size so that a large cleanup
 * never holds one huge transaction.  Series left without any data are then
 * removed from the index.
 */
#include <stdlib.h>

#include "tsdb/tsdb_int.h"

#define DELETES_PER_TXN 20000

typedef struct {
    int64_t cutoff;           /* delete chunks with maxt < cutoff */
    tsdb_ref resume_sid;      /* where the next transaction starts */
    int done;
    long deleted;
    tsdb_ref *emptied;        /* series whose first chunk was deleted */
    size_t nemptied, emptied_cap;
} retention_ctx;

static int delete_txn(tsdb *db, MDB_txn *txn, void *vctx, errbuf *err) {
    (void)err;
    retention_ctx *c = vctx;
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, db->dbi_chunks, &cur);
    if (rc) return rc;
    uint8_t key[16];
    chunk_key(key, c->resume_sid, INT64_MIN);
    MDB_val k = {16, key}, d;
    long n = 0;
    size_t emptied_before = c->nemptied;
    rc = mdb_cursor_get(cur, &k, &d, MDB_SET_RANGE);
    while (rc == 0 && n < DELETES_PER_TXN) {
        tsdb_ref sid = be64_get(k.mv_data);
        int64_t maxt = be64_get_i((uint8_t *)k.mv_data + 8);
        if (maxt < c->cutoff) {
            memcpy(key, k.mv_data, 16); /* k points into a page the delete changes */
            if ((rc = mdb_cursor_del(cur, 0))) break;
            n++;
            if (c->nemptied == emptied_before || c->emptied[c->nemptied - 1] != sid) {
                if (c->nemptied == c->emptied_cap) {
                    c->emptied_cap = c->emptied_cap ? c->emptied_cap * 2 : 256;
                    c->emptied = xrealloc(c->emptied, c->emptied_cap * sizeof *c->emptied);
                }
                c->emptied[c->nemptied++] = sid;
            }
            k.mv_size = 16;
            k.mv_data = key;
            rc = mdb_cursor_get(cur, &k, &d, MDB_SET_RANGE);
            continue;
        }
        chunk_key(key, sid + 1, INT64_MIN);
        k.mv_size = 16;
        k.mv_data = key;
        rc = mdb_cursor_get(cur, &k, &d, MDB_SET_RANGE);
    }
    mdb_cursor_close(cur);
    if (rc == MDB_NOTFOUND) {
        c->done = 1;
        rc = 0;
    } else if (rc == 0) {
        c->resume_sid = be64_get(k.mv_data);
    } else {
        c->nemptied = emptied_before; /* the transaction is aborted */
        return rc;
    }
    c->deleted += n;
    return 0;
}

/* Removes series that have no chunk left and nothing in the head. */
static int gc_txn(tsdb *db, MDB_txn *txn, void *vctx, errbuf *err) {
    retention_ctx *c = vctx;
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, db->dbi_chunks, &cur);
    if (rc) return rc;
    for (size_t i = 0; i < c->nemptied && !rc; i++) {
        tsdb_ref sid = c->emptied[i];
        head_series *s = sidt_get(&db->by_sid, sid);
        if (s && head_open_samples(s)) continue;
        /* An open chunk dropped from memory must not come back from its
         * snapshot at the next start. */
        uint8_t hk[8];
        be64_put(hk, sid);
        for (int h = 0; h < 2 && !rc; h++) {
            MDB_val hkv = {8, hk};
            rc = mdb_del(txn, db->dbi_head[h], &hkv, NULL);
            if (rc == MDB_NOTFOUND) rc = 0;
        }
        if (rc || (s && (s->sealed || s->pending_labels))) continue;
        uint8_t key[16];
        chunk_key(key, sid, INT64_MIN);
        MDB_val k = {16, key}, d;
        int r = mdb_cursor_get(cur, &k, &d, MDB_SET_RANGE);
        if (r == 0 && be64_get(k.mv_data) == sid) continue;
        rc = index_delete_series(db, txn, sid, err);
    }
    mdb_cursor_close(cur);
    return rc;
}

static void forget_head_series(tsdb *db, retention_ctx *c) {
    pthread_rwlock_wrlock(&db->head_lock);
    for (size_t i = 0; i < c->nemptied; i++) {
        head_series *s = sidt_get(&db->by_sid, c->emptied[i]);
        if (!s || head_open_samples(s) || s->sealed || s->pending_labels) continue;
        if (s->flags & HS_DIRTY) {
            /* Only a stale snapshot flag can be left: the snapshot is gone with
             * the series, so take it off the dirty list. */
            for (size_t k = 0; k < db->ndirty; k++)
                if (db->dirty[k] == s) db->dirty[k] = db->dirty[--db->ndirty];
        }
        sidt_del(&db->by_sid, s);
        smap_del(&db->by_hash, s);
        head_series_free(s);
    }
    pthread_rwlock_unlock(&db->head_lock);
}

/* Drops open chunks whose newest sample is older than the cutoff, so a
 * series that stopped long ago goes entirely. */
static void drop_old_open_chunks(tsdb *db, retention_ctx *c) {
    pthread_rwlock_wrlock(&db->head_lock);
    head_series *s;
    for (size_t pos = 0; (s = sidt_next(&db->by_sid, &pos));) {
        if (!head_open_samples(s) || s->last_t >= c->cutoff || s->sealed) continue;
        head_open_drop(s);
        if (c->nemptied == c->emptied_cap) {
            c->emptied_cap = c->emptied_cap ? c->emptied_cap * 2 : 256;
            c->emptied = xrealloc(c->emptied, c->emptied_cap * sizeof *c->emptied);
        }
        c->emptied[c->nemptied++] = s->sid;
    }
    pthread_rwlock_unlock(&db->head_lock);
}

/* Deletes chunks ending before cutoff; with drop_open, also open chunks
 * (time retention: a series that stopped long ago goes entirely; size
 * retention never drops the newest data). */
static long delete_before(tsdb *db, int64_t cutoff, int drop_open, errbuf *err) {
    retention_ctx c = {.cutoff = cutoff, .resume_sid = 0};
    if (drop_open) drop_old_open_chunks(db, &c);
    while (!c.done) {
        if (db_write(db, delete_txn, &c, err)) {
            free(c.emptied);
            return -1;
        }
    }
    int rc = c.nemptied ? db_write(db, gc_txn, &c, err) : 0;
    if (rc == 0) forget_head_series(db, &c);
    free(c.emptied);
    return rc ? -1 : c.deleted;
}

uint64_t db_used_bytes(tsdb *db, MDB_txn *txn) {
    MDB_dbi dbis[] = {0, 1, db->dbi_meta, db->dbi_series, db->dbi_shash, db->dbi_postings,
                      db->dbi_chunks, db->dbi_head[0], db->dbi_head[1], db->dbi_kv};
    uint64_t pages = 0;
    unsigned psize = 4096;
    for (size_t i = 0; i < sizeof dbis / sizeof dbis[0]; i++) {
        MDB_stat st;
        if (mdb_stat(txn, dbis[i], &st) == 0) {
            pages += st.ms_branch_pages + st.ms_leaf_pages + st.ms_overflow_pages;
            psize = st.ms_psize;
        }
    }
    return pages * psize;
}

static uint64_t used_bytes(tsdb *db) {
    MDB_txn *txn;
    if (db_read_begin(db, &txn, NULL)) return 0;
    uint64_t b = db_used_bytes(db, txn);
    db_read_end(db, txn);
    return b;
}

/* Oldest chunk end time in the database (INT64_MAX when empty). */
static int64_t oldest_maxt(tsdb *db) {
    MDB_txn *txn;
    int64_t min = INT64_MAX;
    if (db_read_begin(db, &txn, NULL)) return min;
    MDB_cursor *cur;
    if (mdb_cursor_open(txn, db->dbi_chunks, &cur) == 0) {
        MDB_val k, d;
        int rc = mdb_cursor_get(cur, &k, &d, MDB_FIRST);
        while (rc == 0) {
            int64_t t = be64_get_i((uint8_t *)k.mv_data + 8);
            if (t < min) min = t;
            uint8_t key[16];
            chunk_key(key, be64_get(k.mv_data) + 1, INT64_MIN);
            MDB_val sk = {16, key};
            k = sk;
            rc = mdb_cursor_get(cur, &k, &d, MDB_SET_RANGE);
        }
        mdb_cursor_close(cur);
    }
    db_read_end(db, txn);
    return min;
}

static long apply_retention_locked(tsdb *db, errbuf *err);

long tsdb_apply_retention(tsdb *db, errbuf *err) {
    pthread_mutex_lock(&db->writer_mu);
    long rc = apply_retention_locked(db, err);
    pthread_mutex_unlock(&db->writer_mu);
    return rc;
}

static long apply_retention_locked(tsdb *db, errbuf *err) {
    long total = 0;
    if (db->opts.retention_ms > 0 && db->max_time != INT64_MIN) {
        long n = delete_before(db, db->max_time - db->opts.retention_ms, 1, err);
        if (n < 0) return -1;
        total += n;
    }
    if (db->opts.retention_bytes > 0) {
        for (int round = 1; round <= 64 && used_bytes(db) > db->opts.retention_bytes; round++) {
            int64_t lo = oldest_maxt(db);
            if (lo == INT64_MAX || db->max_time == INT64_MIN || lo >= db->max_time) break;
            uint64_t used = used_bytes(db);
            double frac = (double)(used - db->opts.retention_bytes) / (double)used;
            frac = frac * 1.1 + 0.02 * round;
            if (frac > 1) frac = 1;
            int64_t cutoff = lo + 1 + (int64_t)((double)(db->max_time - lo) * frac);
            long n = delete_before(db, cutoff, 0, err);
            if (n < 0) return -1;
            total += n;
            if (n == 0 && frac >= 1) break;
        }
    }
    return total;
}
