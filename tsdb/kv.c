/*
 * kv.c - small durable records beside the samples (tsdb_kv_* in tsdb.h).
 *
 * One LMDB database, `kv`, holds every namespace: a record's key is the
 * namespace, a 0x00 byte and the caller's key, so a namespace is one
 * contiguous key range that tsdb_kv_each walks with a cursor.  Writes go
 * through db_write() like every other write, so they share its map growth
 * and full-disk handling; LMDB itself serialises them against the writer
 * thread's transactions.
 */
#include <stdlib.h>

#include "tsdb/tsdb_int.h"

#define KV_KEY_MAX 500 /* LMDB's key limit is 511 bytes */

/* Builds "ns\0key" into out; returns its length or 0 when too long. */
static size_t kv_key(const char *ns, const void *key, size_t klen, uint8_t out[KV_KEY_MAX]) {
    size_t nlen = strlen(ns);
    if (nlen + 1 + klen > KV_KEY_MAX || memchr(ns, 0, nlen)) return 0;
    memcpy(out, ns, nlen);
    out[nlen] = 0;
    if (klen) memcpy(out + nlen + 1, key, klen);
    return nlen + 1 + klen;
}

typedef struct {
    MDB_val k, v;
    int del, found;
} kv_op;

static int kv_txn(tsdb *db, MDB_txn *txn, void *vctx, errbuf *err) {
    (void)err;
    kv_op *op = vctx;
    if (!op->del) return mdb_put(txn, db->dbi_kv, &op->k, &op->v, 0);
    int rc = mdb_del(txn, db->dbi_kv, &op->k, NULL);
    op->found = rc == 0;
    return rc == MDB_NOTFOUND ? 0 : rc;
}

int tsdb_kv_put(tsdb *db, const char *ns, const void *key, size_t klen, const void *val, size_t vlen, errbuf *err) {
    uint8_t k[KV_KEY_MAX];
    size_t n = kv_key(ns, key, klen, k);
    if (!n) return errf(err, "record key of %zu bytes in namespace \"%s\" is too long (at most %d)", klen, ns, KV_KEY_MAX);
    kv_op op = {{n, k}, {vlen, (void *)val}, 0, 0};
    return db_write(db, kv_txn, &op, err) ? -1 : 0;
}

int tsdb_kv_delete(tsdb *db, const char *ns, const void *key, size_t klen, errbuf *err) {
    uint8_t k[KV_KEY_MAX];
    size_t n = kv_key(ns, key, klen, k);
    if (!n) return 1;
    kv_op op = {{n, k}, {0, NULL}, 1, 0};
    if (db_write(db, kv_txn, &op, err)) return -1;
    return op.found ? 0 : 1;
}

int tsdb_kv_get(tsdb *db, const char *ns, const void *key, size_t klen, void **val, size_t *vlen, errbuf *err) {
    uint8_t k[KV_KEY_MAX];
    size_t n = kv_key(ns, key, klen, k);
    if (!n) return 0;
    MDB_txn *txn;
    if (db_read_begin(db, &txn, err)) return -1;
    MDB_val mk = {n, k}, mv;
    int rc = mdb_get(txn, db->dbi_kv, &mk, &mv), out = 0;
    if (rc == 0) {
        char *copy = xmalloc(mv.mv_size + 1);
        memcpy(copy, mv.mv_data, mv.mv_size);
        copy[mv.mv_size] = 0;
        *val = copy;
        *vlen = mv.mv_size;
        out = 1;
    } else if (rc != MDB_NOTFOUND) {
        out = db_error(db, err, "reading a record", rc);
    }
    db_read_end(db, txn);
    return out;
}

int tsdb_kv_each(tsdb *db, const char *ns, tsdb_kv_fn fn, void *ctx, errbuf *err) {
    uint8_t prefix[KV_KEY_MAX];
    size_t plen = kv_key(ns, "", 0, prefix);
    if (!plen) return errf(err, "namespace \"%s\" is too long", ns);
    MDB_txn *txn;
    if (db_read_begin(db, &txn, err)) return -1;
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, db->dbi_kv, &cur);
    if (rc) {
        db_read_end(db, txn);
        return db_error(db, err, "reading records", rc);
    }
    MDB_val k = {plen, prefix}, v;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size < plen || memcmp(k.mv_data, prefix, plen)) break;
        if (fn(ctx, (const uint8_t *)k.mv_data + plen, k.mv_size - plen, v.mv_data, v.mv_size)) break;
    }
    mdb_cursor_close(cur);
    db_read_end(db, txn);
    return 0;
}

typedef struct {
    const tsdb_kv_change *v;
    size_t n;
} kv_batch;

static int kv_batch_txn(tsdb *db, MDB_txn *txn, void *vctx, errbuf *err) {
    kv_batch *b = vctx;
    for (size_t i = 0; i < b->n; i++) {
        const tsdb_kv_change *c = &b->v[i];
        uint8_t k[KV_KEY_MAX];
        size_t n = kv_key(c->ns, c->key, c->klen, k);
        if (!n) {
            errf(err, "record key of %zu bytes in namespace \"%s\" is too long (at most %d)", c->klen, c->ns,
                 KV_KEY_MAX);
            return MDB_BAD_VALSIZE;
        }
        MDB_val mk = {n, k}, mv = {c->vlen, (void *)c->val};
        int rc = c->val ? mdb_put(txn, db->dbi_kv, &mk, &mv, 0) : mdb_del(txn, db->dbi_kv, &mk, NULL);
        if (rc && rc != MDB_NOTFOUND) return rc;
    }
    return 0;
}

int tsdb_kv_write(tsdb *db, const tsdb_kv_change *changes, size_t n, errbuf *err) {
    for (size_t i = 0; i < n; i++) {
        uint8_t k[KV_KEY_MAX];
        if (!kv_key(changes[i].ns, changes[i].key, changes[i].klen, k))
            return errf(err, "record key of %zu bytes in namespace \"%s\" is too long (at most %d)", changes[i].klen,
                        changes[i].ns, KV_KEY_MAX);
    }
    kv_batch b = {changes, n};
    return db_write(db, kv_batch_txn, &b, err) ? -1 : 0;
}
