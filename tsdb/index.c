/*
 * index.c - the series index: series records, label-set hashes and postings.
 *
 * Postings are LMDB DUPSORT|DUPFIXED lists of 8-byte big-endian series ids
 * under the key "name\0value", so a lookup is one B-tree search and the ids
 * come back sorted, several pages at a time (MDB_GET_MULTIPLE).  The key with
 * an empty name lists every series, which negative matchers subtract from.
 * LMDB keys are limited to 511 bytes; a value longer than POSTING_VALUE_MAX
 * is cut there, followed by 0x01 and its 64-bit hash, and readers that need
 * the whole value read it from a series in the list.
 */
#include <stdlib.h>
#include <xxhash.h>

#include "tsdb/tsdb_int.h"

size_t postings_key(const char *name, size_t nlen, const char *value, size_t vlen, uint8_t *out) {
    memcpy(out, name, nlen);
    out[nlen] = 0;
    if (vlen <= POSTING_VALUE_MAX) {
        memcpy(out + nlen + 1, value, vlen);
        return nlen + 1 + vlen;
    }
    memcpy(out + nlen + 1, value, POSTING_VALUE_MAX);
    uint8_t *p = out + nlen + 1 + POSTING_VALUE_MAX;
    *p++ = 1;
    be64_put(p, XXH3_64bits(value, vlen));
    return nlen + 1 + POSTING_VALUE_MAX + 9;
}

int index_put_series(tsdb *db, MDB_txn *txn, tsdb_ref sid, uint64_t hash, const uint8_t *enc,
                     size_t len, errbuf *err) {
    uint8_t skey[8], hkey[8], pkey[512];
    be64_put(skey, sid);
    be64_put(hkey, hash);
    MDB_val k = {8, skey}, d = {len, (void *)enc};
    int rc = mdb_put(txn, db->dbi_series, &k, &d, 0);
    if (rc) return rc;
    MDB_val hk = {8, hkey}, hd = {8, skey};
    if ((rc = mdb_put(txn, db->dbi_shash, &hk, &hd, MDB_NODUPDATA)) && rc != MDB_KEYEXIST) return rc;
    label ls[256];
    long n = labels_decode(enc, len, ls, 256);
    if (n < 0) return errf(err, "series %llu has a corrupt label encoding", (unsigned long long)sid);
    MDB_val sd = {8, skey};
    MDB_val all = {1, ""};
    if ((rc = mdb_put(txn, db->dbi_postings, &all, &sd, MDB_NODUPDATA)) && rc != MDB_KEYEXIST) return rc;
    for (long i = 0; i < n; i++) {
        if (ls[i].name_len > 100) return errf(err, "label name longer than 100 bytes");
        MDB_val pk = {postings_key(ls[i].name, ls[i].name_len, ls[i].value, ls[i].value_len, pkey), pkey};
        if ((rc = mdb_put(txn, db->dbi_postings, &pk, &sd, MDB_NODUPDATA)) && rc != MDB_KEYEXIST) return rc;
    }
    return 0;
}

int index_get_labels(tsdb *db, MDB_txn *txn, tsdb_ref sid, MDB_val *val) {
    uint8_t skey[8];
    be64_put(skey, sid);
    MDB_val k = {8, skey};
    return mdb_get(txn, db->dbi_series, &k, val) ? -1 : 0;
}

int index_find_series(tsdb *db, MDB_txn *txn, const label *l, size_t n, uint64_t hash,
                      const uint8_t *enc, size_t enc_len, tsdb_ref *sid) {
    (void)l;
    (void)n;
    MDB_cursor *cur;
    if (mdb_cursor_open(txn, db->dbi_shash, &cur)) return 0;
    uint8_t hkey[8];
    be64_put(hkey, hash);
    MDB_val k = {8, hkey}, d;
    int found = 0;
    for (int rc = mdb_cursor_get(cur, &k, &d, MDB_SET_KEY); rc == 0;
         rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT_DUP)) {
        if (d.mv_size != 8) continue;
        tsdb_ref cand = be64_get(d.mv_data);
        MDB_val lv;
        if (index_get_labels(db, txn, cand, &lv) == 0 && lv.mv_size == enc_len &&
            memcmp(lv.mv_data, enc, enc_len) == 0) {
            *sid = cand;
            found = 1;
            break;
        }
    }
    mdb_cursor_close(cur);
    return found;
}

int index_delete_series(tsdb *db, MDB_txn *txn, tsdb_ref sid, errbuf *err) {
    MDB_val lv;
    if (index_get_labels(db, txn, sid, &lv)) return 0;
    /* Copy: deleting invalidates pointers into the page. */
    uint8_t *enc = xmalloc(lv.mv_size);
    size_t len = lv.mv_size;
    memcpy(enc, lv.mv_data, len);
    label ls[256];
    long n = labels_decode(enc, len, ls, 256);
    int rc = 0;
    uint8_t skey[8], hkey[8], pkey[512];
    be64_put(skey, sid);
    MDB_val sd = {8, skey};
    if (n < 0) {
        rc = errf(err, "series %llu has a corrupt label encoding", (unsigned long long)sid);
        goto out;
    }
    for (long i = 0; i < n && !rc; i++) {
        MDB_val pk = {postings_key(ls[i].name, ls[i].name_len, ls[i].value, ls[i].value_len, pkey), pkey};
        rc = mdb_del(txn, db->dbi_postings, &pk, &sd);
        if (rc == MDB_NOTFOUND) rc = 0;
    }
    if (!rc) {
        MDB_val all = {1, ""};
        rc = mdb_del(txn, db->dbi_postings, &all, &sd);
        if (rc == MDB_NOTFOUND) rc = 0;
    }
    if (!rc) {
        be64_put(hkey, labels_hash(ls, (size_t)n));
        MDB_val hk = {8, hkey};
        rc = mdb_del(txn, db->dbi_shash, &hk, &sd);
        if (rc == MDB_NOTFOUND) rc = 0;
    }
    if (!rc) {
        MDB_val k = {8, skey};
        rc = mdb_del(txn, db->dbi_series, &k, NULL);
        if (rc == MDB_NOTFOUND) rc = 0;
    }
out:
    free(enc);
    return rc;
}
