/*
 * stats.c - database statistics, the figures of Prometheus's
 * /api/v1/status/tsdb plus storage density.
 *
 * Everything is counted from the data itself (chunk headers, postings
 * counts), not from counters kept on the side, so the figures cannot drift
 * from the truth.  The cost is one pass over chunk keys and postings keys,
 * which is fine for a command and a status page.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "tsdb/tsdb_int.h"


/* Keeps the 10 largest counts, ties broken by name. */
static void top_insert(tsdb_count *top, size_t *n, const char *name, uint64_t count, tsdb_reader *r,
                       size_t name_len) {
    size_t cap = 10;
    if (*n == cap && top[cap - 1].count >= count) return;
    size_t i = *n < cap ? (*n)++ : cap - 1;
    while (i > 0 && top[i - 1].count < count) {
        top[i] = top[i - 1];
        i--;
    }
    char *s = reader_alloc(r, name_len + 1);
    memcpy(s, name, name_len);
    s[name_len] = 0;
    top[i].name = s;
    top[i].count = count;
}

static uint64_t folder_bytes(const char *path) {
    uint64_t total = 0;
    DIR *d = opendir(path);
    if (!d) return 0;
    struct dirent *e;
    char p[4096];
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' && (e->d_name[1] == 0 || (e->d_name[1] == '.' && e->d_name[2] == 0))) continue;
        snprintf(p, sizeof p, "%s/%s", path, e->d_name);
        struct stat st;
        if (lstat(p, &st)) continue;
        if (S_ISDIR(st.st_mode)) total += folder_bytes(p);
        else total += (uint64_t)st.st_size;
    }
    closedir(d);
    return total;
}

int tsdb_stats_collect(tsdb_reader *r, tsdb_stats *st, errbuf *err) {
    tsdb *db = reader_db(r);
    MDB_txn *txn = reader_txn(r);
    memset(st, 0, sizeof *st);
    st->min_time = INT64_MAX;
    st->max_time = INT64_MIN;
    MDB_stat ms;
    if (mdb_stat(txn, db->dbi_series, &ms) == 0) st->series = ms.ms_entries;

    /* Persisted chunks. */
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, db->dbi_chunks, &cur);
    if (rc) return db_error(db, err, "reading chunks", rc);
    MDB_val k, d;
    for (rc = mdb_cursor_get(cur, &k, &d, MDB_FIRST); rc == 0; rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT)) {
        int64_t mint;
        uint32_t count;
        if (chunk_header(d.mv_data, d.mv_size, &mint, &count)) continue;
        int64_t maxt = be64_get_i((uint8_t *)k.mv_data + 8);
        st->chunks++;
        st->samples += count;
        st->chunk_bytes += d.mv_size;
        if (mint < st->min_time) st->min_time = mint;
        if (maxt > st->max_time) st->max_time = maxt;
    }
    mdb_cursor_close(cur);

    /* The head: unpersisted sealed chunks and open chunks. */
    pthread_rwlock_rdlock(&db->head_lock);
    head_series *s;
    for (size_t pos = 0; (s = sidt_next(&db->by_sid, &pos));) {
        int active = 0;
        for (sealed_chunk *c = s->sealed; c; c = c->next) {
            if (c->persisted_gen) continue;
            st->chunks++;
            int64_t mint;
            uint32_t count;
            if (chunk_header(c->data, c->len, &mint, &count) == 0) st->samples += count;
            st->chunk_bytes += c->len;
            if (c->mint < st->min_time) st->min_time = c->mint;
            if (c->maxt > st->max_time) st->max_time = c->maxt;
            active = 1;
        }
        uint32_t open = head_open_samples(s);
        if (open) {
            st->head_samples += open;
            st->samples += open;
            if (s->last_t > st->max_time) st->max_time = s->last_t;
            int64_t t0 = head_open_mint(s);
            if (t0 < st->min_time) st->min_time = t0;
            active = 1;
        }
        if (active) st->head_series++;
    }
    pthread_rwlock_unlock(&db->head_lock);

    /* Postings: series per metric name, values per label name, series per pair. */
    rc = mdb_cursor_open(txn, db->dbi_postings, &cur);
    if (rc) return db_error(db, err, "reading postings", rc);
    const char *cur_name = NULL;
    size_t cur_name_len = 0;
    uint64_t values = 0;
    char namebuf[128];
    for (rc = mdb_cursor_get(cur, &k, &d, MDB_FIRST); rc == 0; rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT_NODUP)) {
        const char *key = k.mv_data;
        const char *z = memchr(key, 0, k.mv_size);
        if (!z || z == key) continue;
        size_t nlen = (size_t)(z - key), vlen = k.mv_size - nlen - 1;
        if (nlen >= sizeof namebuf) continue;
        size_t n = 0;
        mdb_cursor_count(cur, &n);
        if (!cur_name || nlen != cur_name_len || memcmp(namebuf, key, nlen)) {
            if (cur_name) top_insert(st->top_label_values, &st->n_top_label_values, namebuf, values, r, cur_name_len);
            memcpy(namebuf, key, nlen);
            cur_name = namebuf;
            cur_name_len = nlen;
            values = 0;
        }
        values++;
        if (nlen == 8 && memcmp(key, METRIC_NAME_LABEL, 8) == 0)
            top_insert(st->top_metrics, &st->n_top_metrics, z + 1, n, r, vlen > POSTING_VALUE_MAX ? POSTING_VALUE_MAX : vlen);
        char pair[POSTING_VALUE_MAX + 130];
        size_t plen = snprintf(pair, sizeof pair, "%.*s=%.*s", (int)nlen, key,
                               (int)(vlen > POSTING_VALUE_MAX ? POSTING_VALUE_MAX : vlen), z + 1);
        if (plen >= sizeof pair) plen = sizeof pair - 1;
        top_insert(st->top_label_pairs, &st->n_top_label_pairs, pair, n, r, plen);
    }
    if (cur_name) top_insert(st->top_label_values, &st->n_top_label_values, namebuf, values, r, cur_name_len);
    mdb_cursor_close(cur);

    st->wal_bytes = db->wal_bytes;
    st->disk_bytes = folder_bytes(db->path);
    st->used_bytes = db_used_bytes(db, txn);
    return 0;
}

void tsdb_counters_get(tsdb *db, tsdb_counters *out) {
    pthread_rwlock_rdlock(&db->head_lock);
    *out = db->counters;
    out->head_series = db->by_sid.count;
    out->wal_bytes = db->wal_bytes;
    pthread_rwlock_unlock(&db->head_lock);
}
