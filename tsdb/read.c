/*
 * read.c - readers: consistent snapshots for queries, dumps and statistics.
 *
 * A reader is an LMDB read transaction plus copies of the head data of the
 * series it selected, taken under head_lock held shared.  Its generation
 * (the persist count when it began) keeps the writer from freeing sealed
 * chunks the transaction cannot see, so LMDB chunks + head copies never leave
 * a gap; where the two overlap (a chunk persisted after the reader began),
 * samples are merged by time and the duplicates skipped.
 *
 * Selection resolves matchers from postings: a matcher that cannot match the
 * empty value intersects with the union of the postings of the values it
 * matches; one that can (x!="a", x=~".*", x="") subtracts the postings of the
 * values it rejects from the running set, which starts as every series.
 *
 * Memory: everything returned lives in the reader's arena, freed at close.
 */
#include <stdlib.h>

#include "tsdb/tsdb_int.h"

typedef struct arena_block {
    struct arena_block *next;
    size_t used, cap;
    max_align_t data[];
} arena_block;

typedef struct head_copy_chunk {
    const uint8_t *data;
    uint32_t len;
    int64_t mint, maxt;
} head_copy_chunk;

/* What a reader copied of one series' head. */
typedef struct head_copy {
    tsdb_ref sid;
    head_copy_chunk *sealed;
    size_t nsealed;
    const uint8_t *open;
    uint32_t open_nbits;
    uint16_t open_count;
    int64_t open_mint, open_maxt;
    int has_last;           /* the head knew the series' newest sample     */
    int64_t last_t;
    double last_v;
    int has_prev;           /* ... and the one before it                   */
    int64_t prev_t;
    double prev_v;
} head_copy;

struct tsdb_reader {
    tsdb *db;
    MDB_txn *txn;
    reader_gen gen;
    arena_block *arena;
    head_copy *copies;      /* sorted by sid */
    size_t ncopies;
};

static void *arena_alloc(tsdb_reader *r, size_t n) {
    n = (n + 15) & ~(size_t)15;
    if (!r->arena || r->arena->cap - r->arena->used < n) {
        size_t cap = n > (1 << 16) ? n : (1 << 16);
        arena_block *b = xmalloc(sizeof *b + cap);
        b->cap = cap;
        b->used = 0;
        b->next = r->arena;
        r->arena = b;
    }
    void *p = (char *)r->arena->data + r->arena->used;
    r->arena->used += n;
    return p;
}

static void *arena_dup(tsdb_reader *r, const void *p, size_t n) {
    void *q = arena_alloc(r, n ? n : 1);
    if (n) memcpy(q, p, n);
    return q;
}

int tsdb_reader_open(tsdb *db, tsdb_reader **out, errbuf *err) {
    tsdb_reader *r = xcalloc(1, sizeof *r);
    r->db = db;
    /* The generation is read before the transaction starts: every chunk
     * persisted at or before it is visible to the transaction. */
    pthread_mutex_lock(&db->readers_mu);
    r->gen.gen = db->persist_gen;
    r->gen.next = db->readers.next;
    r->gen.prev = &db->readers;
    db->readers.next->prev = &r->gen;
    db->readers.next = &r->gen;
    pthread_mutex_unlock(&db->readers_mu);
    if (db_read_begin(db, &r->txn, err)) {
        r->txn = NULL;
        tsdb_reader_close(r);
        return -1;
    }
    *out = r;
    return 0;
}

void tsdb_reader_close(tsdb_reader *r) {
    if (!r) return;
    if (r->txn) db_read_end(r->db, r->txn);
    pthread_mutex_lock(&r->db->readers_mu);
    r->gen.prev->next = r->gen.next;
    r->gen.next->prev = r->gen.prev;
    pthread_mutex_unlock(&r->db->readers_mu);
    for (arena_block *b = r->arena, *n; b; b = n) {
        n = b->next;
        free(b);
    }
    free(r->copies);
    free(r);
}

/* ------------------------------------------------------------ sid sets */

typedef struct { tsdb_ref *v; size_t n, cap; } sidset;

static void sidset_push(sidset *s, tsdb_ref x) {
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 256;
        s->v = xrealloc(s->v, s->cap * sizeof *s->v);
    }
    s->v[s->n++] = x;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void sidset_sort_unique(sidset *s) {
    if (s->n < 2) return;
    qsort(s->v, s->n, sizeof *s->v, cmp_u64);
    size_t k = 1;
    for (size_t i = 1; i < s->n; i++)
        if (s->v[i] != s->v[k - 1]) s->v[k++] = s->v[i];
    s->n = k;
}

/* a := a ∩ b, or a := a \ b when subtract; both sorted. */
static void sidset_merge(sidset *a, const sidset *b, int subtract) {
    size_t i = 0, j = 0, k = 0;
    while (i < a->n) {
        while (j < b->n && b->v[j] < a->v[i]) j++;
        int in_b = j < b->n && b->v[j] == a->v[i];
        if (in_b != subtract) a->v[k++] = a->v[i];
        i++;
    }
    a->n = k;
}

/* Appends the postings list under cursor's current key. */
static int postings_collect(MDB_cursor *cur, sidset *out) {
    MDB_val k, d;
    size_t count = 0;
    int rc = mdb_cursor_count(cur, &count);
    if (rc) return rc;
    if (count == 1) {
        /* A lone value is stored inline, and MDB_GET_MULTIPLE returns
         * nothing for it. */
        if ((rc = mdb_cursor_get(cur, &k, &d, MDB_GET_CURRENT))) return rc;
        if (d.mv_size == 8) sidset_push(out, be64_get(d.mv_data));
        return 0;
    }
    rc = mdb_cursor_get(cur, &k, &d, MDB_GET_MULTIPLE);
    while (rc == 0) {
        for (size_t i = 0; i + 8 <= d.mv_size; i += 8) sidset_push(out, be64_get((uint8_t *)d.mv_data + i));
        rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT_MULTIPLE);
    }
    return rc == MDB_NOTFOUND ? 0 : rc;
}

static int postings_get(tsdb_reader *r, MDB_cursor *cur, const uint8_t *key, size_t klen, sidset *out) {
    (void)r;
    MDB_val k = {klen, (void *)key}, d;
    int rc = mdb_cursor_get(cur, &k, &d, MDB_SET_KEY);
    if (rc == MDB_NOTFOUND) return 0;
    if (rc) return rc;
    return postings_collect(cur, out);
}

/* The full value of a postings key: cut values are read from a series. */
static int posting_value(tsdb_reader *r, MDB_cursor *cur, const MDB_val *k, size_t nlen,
                         const char **v, size_t *vlen) {
    const uint8_t *kv = (const uint8_t *)k->mv_data + nlen + 1;
    size_t kvlen = k->mv_size - nlen - 1;
    if (kvlen <= POSTING_VALUE_MAX || kv[POSTING_VALUE_MAX] != 1) {
        *v = (const char *)kv;
        *vlen = kvlen;
        return 0;
    }
    MDB_val kk = *k, d;
    if (mdb_cursor_get(cur, &kk, &d, MDB_GET_CURRENT) || d.mv_size != 8) return -1;
    MDB_val lv;
    if (index_get_labels(r->db, r->txn, be64_get(d.mv_data), &lv)) return -1;
    label ls[256];
    long n = labels_decode(lv.mv_data, lv.mv_size, ls, 256);
    for (long i = 0; i < n; i++) {
        if (ls[i].name_len == nlen && memcmp(ls[i].name, k->mv_data, nlen) == 0) {
            *v = ls[i].value;
            *vlen = ls[i].value_len;
            return 0;
        }
    }
    return -1;
}

/* Union of the postings of every value of m->name for which the matcher's
 * verdict equals want. */
static int postings_scan(tsdb_reader *r, MDB_cursor *cur, const matcher *m, int want, sidset *out) {
    uint8_t prefix[128];
    size_t nlen = m->name_len;
    if (nlen > 100) return 0;
    memcpy(prefix, m->name, nlen);
    prefix[nlen] = 0;
    MDB_val k = {nlen + 1, prefix}, d;
    int rc = mdb_cursor_get(cur, &k, &d, MDB_SET_RANGE);
    while (rc == 0) {
        if (k.mv_size < nlen + 1 || memcmp(k.mv_data, prefix, nlen + 1)) break;
        const char *v;
        size_t vlen;
        if (posting_value(r, cur, &k, nlen, &v, &vlen) == 0 && matcher_matches(m, v, vlen) == want) {
            MDB_val kk = k;
            if (mdb_cursor_get(cur, &kk, &d, MDB_GET_CURRENT) == 0 && (rc = postings_collect(cur, out))) return rc;
        }
        rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT_NODUP);
    }
    return rc == MDB_NOTFOUND || rc == 0 ? 0 : rc;
}

/* Resolves matchers to a sorted set of series ids. */
static int resolve_matchers(tsdb_reader *r, const matcher *m, size_t n, sidset *result) {
    MDB_cursor *cur;
    int rc = mdb_cursor_open(r->txn, r->db->dbi_postings, &cur);
    if (rc) return rc;
    int have = 0;
    sidset tmp = {0};
    uint8_t key[512];
    /* Intersections first (they shrink the set), subtractions after. */
    for (int pass = 0; pass < 2 && !rc; pass++) {
        for (size_t i = 0; i < n && !rc; i++) {
            int matches_empty = matcher_matches(&m[i], "", 0);
            if (matches_empty != pass) continue;
            tmp.n = 0;
            if (!matches_empty) {
                if (m[i].op == MATCH_EQ)
                    rc = postings_get(r, cur, key,
                                      postings_key(m[i].name, m[i].name_len, m[i].value, m[i].value_len, key), &tmp);
                else
                    rc = postings_scan(r, cur, &m[i], 1, &tmp);
                sidset_sort_unique(&tmp);
                if (!have) {
                    result->n = 0;
                    for (size_t j = 0; j < tmp.n; j++) sidset_push(result, tmp.v[j]);
                    have = 1;
                } else {
                    sidset_merge(result, &tmp, 0);
                }
            } else {
                if (!have) {
                    result->n = 0;
                    rc = postings_get(r, cur, (const uint8_t *)"", 1, result);
                    have = 1;
                    if (rc) break;
                }
                if (m[i].op == MATCH_NEQ)
                    rc = postings_get(r, cur, key,
                                      postings_key(m[i].name, m[i].name_len, m[i].value, m[i].value_len, key), &tmp);
                else
                    rc = postings_scan(r, cur, &m[i], 0, &tmp);
                sidset_sort_unique(&tmp);
                sidset_merge(result, &tmp, 1);
            }
        }
    }
    if (!have && !rc) rc = postings_get(r, cur, (const uint8_t *)"", 1, result);
    free(tmp.v);
    mdb_cursor_close(cur);
    return rc;
}

/* ------------------------------------------------------------ head copies */

static const head_copy *find_copy(const tsdb_reader *r, tsdb_ref sid) {
    size_t lo = 0, hi = r->ncopies;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (r->copies[mid].sid < sid) lo = mid + 1;
        else hi = mid;
    }
    return lo < r->ncopies && r->copies[lo].sid == sid ? &r->copies[lo] : NULL;
}

/* Copies the head data of sids (sorted) into the reader, merging with the
 * copies it already has.  Takes head_lock shared once for the whole set. */
static void copy_head(tsdb_reader *r, const tsdb_ref *sids, size_t n) {
    tsdb *db = r->db;
    head_copy *add = xmalloc((n ? n : 1) * sizeof *add);
    size_t nadd = 0;
    pthread_rwlock_rdlock(&db->head_lock);
    for (size_t i = 0; i < n; i++) {
        if (find_copy(r, sids[i])) continue;
        head_series *s = sidt_get(&db->by_sid, sids[i]);
        head_copy *c = &add[nadd++];
        memset(c, 0, sizeof *c);
        c->sid = sids[i];
        if (!s) continue;
        size_t ns = 0;
        for (sealed_chunk *sc = s->sealed; sc; sc = sc->next) ns++;
        if (ns) {
            c->sealed = arena_alloc(r, ns * sizeof *c->sealed);
            for (sealed_chunk *sc = s->sealed; sc; sc = sc->next) {
                head_copy_chunk *hc = &c->sealed[c->nsealed++];
                hc->data = arena_dup(r, sc->data, sc->len);
                hc->len = sc->len;
                hc->mint = sc->mint;
                hc->maxt = sc->maxt;
            }
        }
        if (s->last_t != INT64_MIN) {
            c->has_last = 1;
            c->last_t = s->last_t;
            memcpy(&c->last_v, &s->last_v, 8);
            if (s->prev_t != INT64_MIN) {
                c->has_prev = 1;
                c->prev_t = s->prev_t;
                memcpy(&c->prev_v, &s->prev_v, 8);
            }
        }
        if (s->chunk.count) {
            c->open = arena_dup(r, s->chunk.buf, open_chunk_bytes(&s->chunk));
            c->open_nbits = s->chunk.nbits;
            c->open_count = s->chunk.count;
            c->open_maxt = s->chunk.t_last;
            c->open_mint = head_open_mint(s); /* one sample's decode */
        }
    }
    pthread_rwlock_unlock(&db->head_lock);
    if (nadd) {
        r->copies = xrealloc(r->copies, (r->ncopies + nadd) * sizeof *r->copies);
        memcpy(r->copies + r->ncopies, add, nadd * sizeof *add);
        r->ncopies += nadd;
        qsort(r->copies, r->ncopies, sizeof *r->copies, cmp_u64); /* sid is the first field */
    }
    free(add);
}

static int copy_has_data(const head_copy *c, int64_t mint, int64_t maxt) {
    if (!c) return 0;
    for (size_t i = 0; i < c->nsealed; i++)
        if (c->sealed[i].maxt >= mint && c->sealed[i].mint <= maxt) return 1;
    return c->open_count && c->open_maxt >= mint && c->open_mint <= maxt;
}

static int persisted_has_data(tsdb_reader *r, MDB_cursor *cur, tsdb_ref sid, int64_t mint, int64_t maxt) {
    uint8_t key[16];
    chunk_key(key, sid, mint);
    MDB_val k = {16, key}, d;
    if (mdb_cursor_get(cur, &k, &d, MDB_SET_RANGE) || k.mv_size != 16 || be64_get(k.mv_data) != sid) return 0;
    int64_t cmint;
    uint32_t count;
    (void)r;
    return chunk_header(d.mv_data, d.mv_size, &cmint, &count) == 0 && cmint <= maxt;
}

/* ------------------------------------------------------------ select */

static int series_cmp(const void *pa, const void *pb) {
    const tsdb_series *a = pa, *b = pb;
    size_t n = a->nlabels < b->nlabels ? a->nlabels : b->nlabels;
    for (size_t i = 0; i < n; i++) {
        const label *x = &a->labels[i], *y = &b->labels[i];
        size_t l = x->name_len < y->name_len ? x->name_len : y->name_len;
        int c = memcmp(x->name, y->name, l);
        if (c || x->name_len != y->name_len) return c ? c : (x->name_len < y->name_len ? -1 : 1);
        l = x->value_len < y->value_len ? x->value_len : y->value_len;
        c = memcmp(x->value, y->value, l);
        if (c || x->value_len != y->value_len) return c ? c : (x->value_len < y->value_len ? -1 : 1);
    }
    return a->nlabels < b->nlabels ? -1 : a->nlabels > b->nlabels;
}

int tsdb_select(tsdb_reader *r, const matcher *m, size_t n, int64_t mint, int64_t maxt,
                const tsdb_series **out, size_t *count, errbuf *err) {
    sidset ids = {0};
    int rc = resolve_matchers(r, m, n, &ids);
    if (rc) {
        free(ids.v);
        return db_error(r->db, err, "reading postings", rc);
    }
    copy_head(r, ids.v, ids.n);
    tsdb_series *res = arena_alloc(r, (ids.n ? ids.n : 1) * sizeof *res);
    size_t nres = 0;
    MDB_cursor *cur;
    if ((rc = mdb_cursor_open(r->txn, r->db->dbi_chunks, &cur))) {
        free(ids.v);
        return db_error(r->db, err, "reading chunks", rc);
    }
    for (size_t i = 0; i < ids.n; i++) {
        tsdb_ref sid = ids.v[i];
        if (!copy_has_data(find_copy(r, sid), mint, maxt) && !persisted_has_data(r, cur, sid, mint, maxt)) continue;
        MDB_val lv;
        if (index_get_labels(r->db, r->txn, sid, &lv)) continue;
        long nl = labels_count_encoded(lv.mv_data, lv.mv_size);
        if (nl <= 0) continue;
        label *ls = arena_alloc(r, (size_t)nl * sizeof *ls);
        labels_decode(lv.mv_data, lv.mv_size, ls, (size_t)nl); /* points into the txn's pages */
        res[nres].ref = sid;
        res[nres].labels = ls;
        res[nres].nlabels = (size_t)nl;
        nres++;
    }
    mdb_cursor_close(cur);
    free(ids.v);
    qsort(res, nres, sizeof *res, series_cmp);
    *out = res;
    *count = nres;
    return 0;
}

/* ------------------------------------------------------------ samples */

typedef struct {
    int64_t *t;
    double *v;
    size_t n, cap;
} sample_acc;

static void acc_reserve(tsdb_reader *r, sample_acc *a, size_t extra) {
    if (a->n + extra <= a->cap) return;
    size_t cap = a->cap ? a->cap * 2 : 256;
    while (cap < a->n + extra) cap *= 2;
    int64_t *t = arena_alloc(r, cap * sizeof *t);
    double *v = arena_alloc(r, cap * sizeof *v);
    if (a->n) {
        memcpy(t, a->t, a->n * sizeof *t);
        memcpy(v, a->v, a->n * sizeof *v);
    }
    a->t = t;
    a->v = v;
    a->cap = cap;
}

/* Appends decoded samples that fall in [mint, maxt] and are newer than the
 * last kept one (overlapping copies of the same chunk are skipped). */
static void acc_filter(sample_acc *a, size_t from, size_t got, int64_t mint, int64_t maxt) {
    size_t k = from;
    for (size_t i = from; i < from + got; i++) {
        int64_t t = a->t[i];
        if (t < mint || t > maxt) continue;
        if (k > 0 && t <= a->t[k - 1]) continue;
        a->t[k] = t;
        a->v[k] = a->v[i];
        k++;
    }
    a->n = k;
}

static int decode_sealed(tsdb_reader *r, sample_acc *a, const uint8_t *data, size_t len, int64_t mint,
                         int64_t maxt) {
    int64_t cmint;
    uint32_t count;
    if (chunk_header(data, len, &cmint, &count)) return -1;
    acc_reserve(r, a, count);
    int got = chunk_decode(data, len, a->t + a->n, a->v + a->n, count);
    if (got < 0) return -1;
    acc_filter(a, a->n, (size_t)got, mint, maxt);
    return 0;
}

int tsdb_read(tsdb_reader *r, tsdb_ref sid, int64_t mint, int64_t maxt, tsdb_samples *out, errbuf *err) {
    sample_acc a = {0};
    MDB_cursor *cur;
    int rc = mdb_cursor_open(r->txn, r->db->dbi_chunks, &cur);
    if (rc) return db_error(r->db, err, "reading chunks", rc);
    uint8_t key[16];
    chunk_key(key, sid, mint);
    MDB_val k = {16, key}, d;
    for (rc = mdb_cursor_get(cur, &k, &d, MDB_SET_RANGE); rc == 0; rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT)) {
        if (k.mv_size != 16 || be64_get(k.mv_data) != sid) break;
        int64_t cmint;
        uint32_t count;
        if (chunk_header(d.mv_data, d.mv_size, &cmint, &count) == 0 && cmint > maxt) break;
        if (decode_sealed(r, &a, d.mv_data, d.mv_size, mint, maxt)) {
            mdb_cursor_close(cur);
            return errf(err, "%s: chunk of series %llu ending at %lld is corrupt", r->db->path,
                        (unsigned long long)sid, (long long)be64_get_i((uint8_t *)k.mv_data + 8));
        }
    }
    mdb_cursor_close(cur);
    const head_copy *c = find_copy(r, sid);
    if (!c) {
        copy_head(r, &sid, 1);
        c = find_copy(r, sid);
    }
    if (c) {
        for (size_t i = 0; i < c->nsealed; i++) {
            if (c->sealed[i].maxt < mint || c->sealed[i].mint > maxt) continue;
            if (decode_sealed(r, &a, c->sealed[i].data, c->sealed[i].len, mint, maxt))
                return errf(err, "head chunk of series %llu is corrupt", (unsigned long long)sid);
        }
        if (c->open_count && c->open_maxt >= mint) {
            acc_reserve(r, &a, c->open_count);
            int got = open_chunk_decode(c->open, c->open_nbits, c->open_count, a.t + a.n, a.v + a.n);
            if (got < 0) return errf(err, "open chunk of series %llu is corrupt", (unsigned long long)sid);
            acc_filter(&a, a.n, (size_t)got, mint, maxt);
        }
    }
    out->t = a.t;
    out->v = a.v;
    out->n = a.n;
    return 0;
}

int tsdb_read_last(tsdb_reader *r, tsdb_ref sid, int64_t mint, int64_t maxt, int64_t *t, double *v, errbuf *err) {
    const head_copy *c = find_copy(r, sid);
    if (!c) {
        copy_head(r, &sid, 1);
        c = find_copy(r, sid);
    }
    if (c && c->has_last && c->last_t <= maxt) {
        /* Nothing is newer than the head's newest sample. */
        if (c->last_t < mint) return 0;
        *t = c->last_t;
        *v = c->last_v;
        return 1;
    }
    tsdb_samples smp;
    if (tsdb_read(r, sid, mint, maxt, &smp, err)) return -1;
    if (smp.n == 0) return 0;
    *t = smp.t[smp.n - 1];
    *v = smp.v[smp.n - 1];
    return 1;
}

static int is_stale_value(double v) {
    uint64_t bits;
    memcpy(&bits, &v, 8);
    return bits == STALE_NAN_BITS;
}

int tsdb_read_newest(tsdb_reader *r, tsdb_ref sid, int64_t mint, int64_t maxt, int n, int64_t *t, double *v,
                     errbuf *err) {
    if (n < 1 || n > 2) return errf(err, "tsdb_read_newest: n must be 1 or 2");
    const head_copy *c = find_copy(r, sid);
    if (!c) {
        copy_head(r, &sid, 1);
        c = find_copy(r, sid);
    }
    /* From the head when nothing newer than its newest sample is asked for
     * and the samples it knows are not staleness markers (those are
     * skipped, which may reach further back). */
    if (c && c->has_last && c->last_t <= maxt && !is_stale_value(c->last_v)) {
        if (c->last_t < mint) return 0;
        if (n == 1 || (c->has_prev && c->prev_t < mint)) {
            t[0] = c->last_t;
            v[0] = c->last_v;
            return 1;
        }
        if (c->has_prev && !is_stale_value(c->prev_v)) {
            t[0] = c->prev_t, v[0] = c->prev_v;
            t[1] = c->last_t, v[1] = c->last_v;
            return 2;
        }
    }
    tsdb_samples smp;
    if (tsdb_read(r, sid, mint, maxt, &smp, err)) return -1;
    int got = 0;
    int64_t bt[2];
    double bv[2];
    for (size_t i = smp.n; i-- > 0 && got < n;) {
        if (is_stale_value(smp.v[i])) continue;
        bt[got] = smp.t[i];
        bv[got] = smp.v[i];
        got++;
    }
    for (int i = 0; i < got; i++) t[i] = bt[got - 1 - i], v[i] = bv[got - 1 - i];
    return got;
}

/* ------------------------------------------------------------ label names/values */

static int str_cmp(const void *pa, const void *pb) {
    const tsdb_str *a = pa, *b = pb;
    size_t l = a->len < b->len ? a->len : b->len;
    int c = memcmp(a->s, b->s, l);
    return c ? c : (a->len < b->len ? -1 : a->len > b->len);
}

int tsdb_label_names(tsdb_reader *r, const tsdb_str **out, size_t *count, errbuf *err) {
    MDB_cursor *cur;
    int rc = mdb_cursor_open(r->txn, r->db->dbi_postings, &cur);
    if (rc) return db_error(r->db, err, "reading postings", rc);
    size_t n = 0, cap = 64;
    tsdb_str *v = xmalloc(cap * sizeof *v);
    MDB_val k, d;
    uint8_t seek[128];
    for (rc = mdb_cursor_get(cur, &k, &d, MDB_FIRST); rc == 0;) {
        const uint8_t *z = memchr(k.mv_data, 0, k.mv_size);
        size_t nlen = z ? (size_t)(z - (const uint8_t *)k.mv_data) : k.mv_size;
        if (nlen > 0 && nlen <= 100) {
            if (n == cap) v = xrealloc(v, (cap *= 2) * sizeof *v);
            v[n].s = arena_dup(r, k.mv_data, nlen);
            v[n].len = nlen;
            n++;
        }
        if (nlen > 100) break;
        /* Skip every value of this name: seek to "name\x01". */
        memcpy(seek, k.mv_data, nlen);
        seek[nlen] = 1;
        MDB_val sk = {nlen + 1, seek};
        k = sk;
        rc = mdb_cursor_get(cur, &k, &d, MDB_SET_RANGE);
    }
    mdb_cursor_close(cur);
    tsdb_str *res = arena_dup(r, v, n * sizeof *v);
    free(v);
    *out = res;
    *count = n;
    return 0;
}

int tsdb_label_values(tsdb_reader *r, const char *name, const tsdb_str **out, size_t *count, errbuf *err) {
    MDB_cursor *cur;
    size_t nlen = strlen(name);
    *out = NULL;
    *count = 0;
    if (nlen == 0 || nlen > 100) return 0;
    int rc = mdb_cursor_open(r->txn, r->db->dbi_postings, &cur);
    if (rc) return db_error(r->db, err, "reading postings", rc);
    uint8_t prefix[128];
    memcpy(prefix, name, nlen);
    prefix[nlen] = 0;
    size_t n = 0, cap = 64;
    tsdb_str *v = xmalloc(cap * sizeof *v);
    MDB_val k = {nlen + 1, prefix}, d;
    int sorted = 1;
    for (rc = mdb_cursor_get(cur, &k, &d, MDB_SET_RANGE); rc == 0; rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT_NODUP)) {
        if (k.mv_size < nlen + 1 || memcmp(k.mv_data, prefix, nlen + 1)) break;
        const char *val;
        size_t vlen;
        if (posting_value(r, cur, &k, nlen, &val, &vlen)) continue;
        if (vlen > POSTING_VALUE_MAX) sorted = 0;
        if (n == cap) v = xrealloc(v, (cap *= 2) * sizeof *v);
        v[n].s = arena_dup(r, val, vlen);
        v[n].len = vlen;
        n++;
    }
    mdb_cursor_close(cur);
    if (!sorted) qsort(v, n, sizeof *v, str_cmp);
    tsdb_str *res = arena_dup(r, v, n * sizeof *v);
    free(v);
    *out = res;
    *count = n;
    return 0;
}

tsdb *reader_db(tsdb_reader *r) { return r->db; }
MDB_txn *reader_txn(tsdb_reader *r) { return r->txn; }
void *reader_alloc(tsdb_reader *r, size_t n) { return arena_alloc(r, n); }
