/*
 * head.c - the in-memory part of the database: one head_series per active
 * series, holding its open chunk and the sealed chunks not yet released.
 *
 * Memory per series is the figure that decides how many series fit on a
 * machine, so a head series keeps no labels (the index has them), no sample
 * arrays (the open chunk is a compressed bit stream) and is found through two
 * open-addressing maps of pointers (by label hash, by series id).
 *
 * Every mutation happens under the writer lock and head_lock held
 * exclusively; readers copy what they need under head_lock held shared.
 *
 * Persisting: dirty series (new labels or unpersisted sealed chunks) are
 * listed in db->dirty; an append alone does not make a series dirty, since
 * the WAL covers it until the next checkpoint snapshots every open chunk.
 * head_persist() writes them inside the caller's transaction; head_after_persist(), called
 * once that transaction has committed, marks what was written.  Sealed chunks
 * stay in memory until every reader that began before the commit is gone
 * (reader generations), so a reader never misses a chunk between its LMDB
 * snapshot and the head.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "tsdb/tsdb_int.h"

/* ------------------------------------------------------------ series map */

static uint64_t mix64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return x;
}

static uint64_t smap_key(const series_map *m, const head_series *s) { return m->by_hash ? s->hash : s->sid; }
/* Label hashes are already uniform; series ids are sequential and need mixing. */
static size_t smap_home(const series_map *m, uint64_t k) {
    return (size_t)((m->by_hash ? k : mix64(k)) & (m->cap - 1));
}

void smap_init(series_map *m, int by_hash) {
    m->cap = 1024;
    m->count = 0;
    m->by_hash = by_hash;
    m->slots = xcalloc(m->cap, sizeof *m->slots);
}

void smap_free(series_map *m) {
    free(m->slots);
    m->slots = NULL;
    m->cap = m->count = 0;
}

static void smap_insert_raw(series_map *m, head_series *s) {
    size_t i = smap_home(m, smap_key(m, s));
    while (m->slots[i]) i = (i + 1) & (m->cap - 1);
    m->slots[i] = s;
    m->count++;
}

void smap_put(series_map *m, head_series *s) {
    if ((m->count + 1) * 10 > m->cap * 7) {
        head_series **old = m->slots;
        size_t oldcap = m->cap;
        m->cap *= 2;
        m->count = 0;
        m->slots = xcalloc(m->cap, sizeof *m->slots);
        for (size_t i = 0; i < oldcap; i++)
            if (old[i]) smap_insert_raw(m, old[i]);
        free(old);
    }
    smap_insert_raw(m, s);
}

/* Linear-probing delete with backward shift (no tombstones). */
void smap_del(series_map *m, head_series *s) {
    size_t i = smap_home(m, smap_key(m, s));
    while (m->slots[i] && m->slots[i] != s) i = (i + 1) & (m->cap - 1);
    if (!m->slots[i]) return;
    m->slots[i] = NULL;
    m->count--;
    size_t j = i;
    for (;;) {
        j = (j + 1) & (m->cap - 1);
        if (!m->slots[j]) break;
        size_t h = smap_home(m, smap_key(m, m->slots[j]));
        /* Move slot j back to i unless its home lies cyclically in (i, j]. */
        int stay = (i <= j) ? (i < h && h <= j) : (i < h || h <= j);
        if (!stay) {
            m->slots[i] = m->slots[j];
            m->slots[j] = NULL;
            i = j;
        }
    }
}

head_series *smap_next(const series_map *m, uint64_t k, size_t *pos) {
    size_t i = *pos == SIZE_MAX ? smap_home(m, k) : ((*pos + 1) & (m->cap - 1));
    while (m->slots[i]) {
        if (smap_key(m, m->slots[i]) == k) {
            *pos = i;
            return m->slots[i];
        }
        i = (i + 1) & (m->cap - 1);
    }
    return NULL;
}

/* ------------------------------------------------------------ by id */

void sidt_free(sid_table *t) {
    for (size_t p = 0; p < t->npages; p++) free(t->pages[p]);
    free(t->pages);
    free(t->live);
    memset(t, 0, sizeof *t);
}

void sidt_put(sid_table *t, head_series *s) {
    size_t p = (size_t)(s->sid / SIDT_PAGE);
    if (p >= t->npages) {
        size_t n = t->npages ? t->npages : 16;
        while (n <= p) n *= 2;
        t->pages = xrealloc(t->pages, n * sizeof *t->pages);
        t->live = xrealloc(t->live, n * sizeof *t->live);
        memset(t->pages + t->npages, 0, (n - t->npages) * sizeof *t->pages);
        memset(t->live + t->npages, 0, (n - t->npages) * sizeof *t->live);
        t->npages = n;
    }
    if (!t->pages[p]) t->pages[p] = xcalloc(SIDT_PAGE, sizeof **t->pages);
    head_series **slot = &t->pages[p][s->sid % SIDT_PAGE];
    if (!*slot) {
        t->live[p]++;
        t->count++;
    }
    *slot = s;
}

void sidt_del(sid_table *t, head_series *s) {
    size_t p = (size_t)(s->sid / SIDT_PAGE);
    if (p >= t->npages || !t->pages[p] || t->pages[p][s->sid % SIDT_PAGE] != s) return;
    t->pages[p][s->sid % SIDT_PAGE] = NULL;
    t->count--;
    if (--t->live[p] == 0) {
        free(t->pages[p]);
        t->pages[p] = NULL;
    }
}

head_series *sidt_next(const sid_table *t, size_t *pos) {
    for (size_t i = *pos; i / SIDT_PAGE < t->npages;) {
        head_series **page = t->pages[i / SIDT_PAGE];
        if (!page) {
            i = (i / SIDT_PAGE + 1) * SIDT_PAGE;
            continue;
        }
        if (page[i % SIDT_PAGE]) {
            *pos = i + 1;
            return page[i % SIDT_PAGE];
        }
        i++;
    }
    *pos = t->npages * SIDT_PAGE;
    return NULL;
}

/* ------------------------------------------------------------ series */

head_series *head_series_new(tsdb *db, tsdb_ref sid, uint64_t hash) {
    head_series *s = xcalloc(1, sizeof *s);
    s->sid = sid;
    s->hash = hash;
    s->last_t = INT64_MIN;
    s->prev_t = INT64_MIN;
    open_chunk_init(&s->chunk);
    sidt_put(&db->by_sid, s);
    smap_put(&db->by_hash, s);
    return s;
}

void head_series_free(head_series *s) {
    head_open_drop(s);
    for (sealed_chunk *c = s->sealed, *n; c; c = n) {
        n = c->next;
        free(c);
    }
    free(s->pending_labels);
    free(s);
}

void head_mark_dirty(tsdb *db, head_series *s, uint32_t flags) {
    s->flags |= flags;
    if (s->flags & HS_DIRTY) return;
    s->flags |= HS_DIRTY;
    if (db->ndirty == db->dirty_cap) {
        db->dirty_cap = db->dirty_cap ? db->dirty_cap * 2 : 1024;
        db->dirty = xrealloc(db->dirty, db->dirty_cap * sizeof *db->dirty);
    }
    db->dirty[db->ndirty++] = s;
}

void head_open_drop(head_series *s) { open_chunk_free(&s->chunk); }

int head_open_decode(const head_series *s, int64_t *ts, double *vs) {
    if (s->chunk.count == 0) return 0;
    int got = open_chunk_decode(s->chunk.buf, s->chunk.nbits, s->chunk.count, ts, vs);
    return got == s->chunk.count ? got : -1;
}

int64_t head_open_mint(const head_series *s) {
    int64_t t = INT64_MAX;
    double v;
    if (s->chunk.count && open_chunk_decode(s->chunk.buf, s->chunk.nbits, 1, &t, &v) != 1) return INT64_MAX;
    return t;
}

/* Cannot happen unless memory is corrupted; losing samples silently would
 * be worse than stopping. */
static void corrupt_head(const head_series *s) {
    fprintf(stderr, "promlite: fatal: open chunk of series %llu does not decode\n", (unsigned long long)s->sid);
    abort();
}

/* Seals the open chunk: re-encodes all its samples with the best sealed
 * codec and queues the result for the next persist. */
void head_seal(tsdb *db, head_series *s) {
    if (head_open_samples(s) == 0) return;
    int n = head_open_decode(s, db->scratch_t, db->scratch_v);
    if (n <= 0) corrupt_head(s);
    size_t len = chunk_encode(db->scratch_t, db->scratch_v, (size_t)n, db->scratch_enc);
    sealed_chunk *c = xmalloc(sizeof *c + len);
    c->next = NULL;
    c->mint = db->scratch_t[0];
    c->maxt = db->scratch_t[n - 1];
    c->persisted_gen = 0;
    c->len = (uint32_t)len;
    memcpy(c->data, db->scratch_enc, len);
    sealed_chunk **tail = &s->sealed;
    while (*tail) tail = &(*tail)->next;
    *tail = c;
    /* Freed, not kept for reuse: a buffer that grows with the chunk costs
     * half as much on average as one held at its largest size. */
    open_chunk_free(&s->chunk);
    db->sealed_bytes += len;
    head_mark_dirty(db, s, 0);
}

int head_append(tsdb *db, head_series *s, int64_t t, double v) {
    uint64_t bits;
    memcpy(&bits, &v, 8);
    if (t <= s->last_t) {
        if (t < s->last_t) return 1;
        return bits == s->last_v ? 3 : 2;
    }
    if (s->chunk.count >= db->opts.chunk_max_samples || open_chunk_bytes(&s->chunk) >= CHUNK_CUT_BYTES)
        head_seal(db, s);
    if (open_chunk_append(&s->chunk, t, v)) {
        fprintf(stderr, "promlite: fatal: out of memory appending to the head\n");
        abort();
    }
    s->prev_t = s->last_t;
    s->prev_v = s->last_v;
    s->last_t = t;
    s->last_v = bits;
    if (t > db->max_time) db->max_time = t;
    return 0;
}

/* Newest persisted chunk of sid: sets *last_t and *last_v from it. */
static int last_persisted_sample(tsdb *db, MDB_txn *txn, tsdb_ref sid, int64_t *last_t, uint64_t *last_v) {
    MDB_cursor *cur;
    if (mdb_cursor_open(txn, db->dbi_chunks, &cur)) return -1;
    uint8_t key[16];
    chunk_key(key, sid + 1, INT64_MIN);
    MDB_val k = {16, key}, d;
    int rc = mdb_cursor_get(cur, &k, &d, MDB_SET_RANGE);
    rc = rc == 0 ? mdb_cursor_get(cur, &k, &d, MDB_PREV) : mdb_cursor_get(cur, &k, &d, MDB_LAST);
    int found = -1;
    if (rc == 0 && k.mv_size == 16 && be64_get(k.mv_data) == sid) {
        size_t cap = db->opts.chunk_max_samples + 8;
        uint32_t count;
        int64_t mint;
        /* Chunks written by a build with larger chunks still decode. */
        if (chunk_header(d.mv_data, d.mv_size, &mint, &count) == 0 && count <= cap) {
            int n = chunk_decode(d.mv_data, d.mv_size, db->scratch_t, db->scratch_v, cap);
            if (n > 0) {
                *last_t = db->scratch_t[n - 1];
                memcpy(last_v, &db->scratch_v[n - 1], 8);
                found = 0;
            }
        }
        if (found) {
            *last_t = be64_get_i((uint8_t *)k.mv_data + 8);
            *last_v = 0;
            found = 0;
        }
    }
    mdb_cursor_close(cur);
    return found;
}

head_series *head_get(tsdb *db, MDB_txn *txn, tsdb_ref sid) {
    head_series *s = sidt_get(&db->by_sid, sid);
    if (s) return s;
    MDB_val val;
    if (index_get_labels(db, txn, sid, &val)) return NULL;
    label ls[256];
    long n = labels_decode(val.mv_data, val.mv_size, ls, 256);
    if (n < 0) return NULL;
    s = head_series_new(db, sid, labels_hash(ls, (size_t)n));
    last_persisted_sample(db, txn, sid, &s->last_t, &s->last_v);
    return s;
}

void head_release_persisted(tsdb *db) {
    uint64_t min_gen = db_min_reader_gen(db);
    head_series *s;
    for (size_t pos = 0; (s = sidt_next(&db->by_sid, &pos));) {
        if (!s->sealed) continue;
        while (s->sealed && s->sealed->persisted_gen && s->sealed->persisted_gen <= min_gen) {
            sealed_chunk *c = s->sealed;
            s->sealed = c->next;
            free(c);
        }
    }
}

long head_snapshot(tsdb *db, head_series *s) {
    if (head_open_samples(s) == 0) return 0;
    int n = head_open_decode(s, db->scratch_t, db->scratch_v);
    if (n <= 0) return -1;
    return (long)chunk_encode(db->scratch_t, db->scratch_v, (size_t)n, db->scratch_enc);
}

/* Writes one series' unpersisted labels and sealed chunks, and with
 * snapshot set its open chunk into the current head db; adds the bytes
 * written to *bytes. */
static int persist_series(tsdb *db, MDB_txn *txn, head_series *s, int snapshot, uint64_t *bytes, errbuf *err) {
    int rc;
    *bytes += s->pending_labels_len;
    uint8_t key[16];
    if (s->pending_labels &&
        (rc = index_put_series(db, txn, s->sid, s->hash, s->pending_labels, s->pending_labels_len, err)))
        return rc;
    for (sealed_chunk *c = s->sealed; c; c = c->next) {
        if (c->persisted_gen) continue;
        chunk_key(key, s->sid, c->maxt);
        MDB_val k = {16, key}, d = {c->len, c->data};
        if ((rc = mdb_put(txn, db->dbi_chunks, &k, &d, 0))) return rc;
        *bytes += 16 + c->len;
    }
    if (snapshot) {
        be64_put(key, s->sid);
        MDB_val k = {8, key};
        long len = head_snapshot(db, s);
        if (len < 0) return errf(err, "open chunk of series %llu is corrupt", (unsigned long long)s->sid);
        if (len == 0) {
            rc = mdb_del(txn, db->dbi_head[db->head_cur], &k, NULL);
            if (rc && rc != MDB_NOTFOUND) return rc;
        } else {
            MDB_val d = {(size_t)len, db->scratch_enc};
            if ((rc = mdb_put(txn, db->dbi_head[db->head_cur], &k, &d, 0))) return rc;
            *bytes += 8 + (uint64_t)len;
        }
    }
    return 0;
}

int head_persist(tsdb *db, MDB_txn *txn, int only_touched, uint64_t budget, int *all_written, errbuf *err) {
    /* A retried transaction (map growth) starts over: forget the marks of
     * the aborted attempt. */
    for (size_t i = 0; i < db->ndirty; i++) db->dirty[i]->flags &= ~(uint32_t)HS_WRITTEN;
    uint64_t bytes = 0;
    *all_written = 1;
    for (size_t i = 0; i < db->ndirty; i++) {
        head_series *s = db->dirty[i];
        if (only_touched && !(s->flags & HS_TOUCHED)) continue;
        if (budget && bytes >= budget) {
            *all_written = 0;
            break;
        }
        int rc = persist_series(db, txn, s, only_touched, &bytes, err);
        if (rc) return rc;
        s->flags |= HS_WRITTEN;
    }
    return db_put_counters(db, txn);
}

void head_after_persist(tsdb *db) {
    pthread_rwlock_wrlock(&db->head_lock);
    pthread_mutex_lock(&db->readers_mu);
    uint64_t gen = ++db->persist_gen;
    pthread_mutex_unlock(&db->readers_mu);
    size_t keep = 0;
    for (size_t i = 0; i < db->ndirty; i++) {
        head_series *s = db->dirty[i];
        if (!(s->flags & HS_WRITTEN)) {
            db->dirty[keep++] = s;
            continue;
        }
        for (sealed_chunk *c = s->sealed; c; c = c->next) {
            if (!c->persisted_gen) {
                c->persisted_gen = gen;
                db->sealed_bytes -= c->len;
            }
        }
        free(s->pending_labels);
        s->pending_labels = NULL;
        s->pending_labels_len = 0;
        s->flags &= ~(uint32_t)(HS_DIRTY | HS_WRITTEN);
    }
    db->ndirty = keep;
    head_release_persisted(db);
    pthread_rwlock_unlock(&db->head_lock);
}
