/*
 * wal.c - write-ahead log records.
 *
 * A record is one appended batch: varint(count), then per sample
 * zigzag-varint(series id delta), zigzag-varint(timestamp delta) and the 8
 * raw bytes of the value (bit-exact), the whole compressed with snappy.
 * Deltas keep a scrape's record small (ids of one target are close, its
 * timestamps equal); snappy then removes the repetition among values.
 * Records are stored as LMDB values, so a record is either wholly written or
 * absent: there are no torn writes to detect.
 */
#include <snappy-c.h>
#include <stdlib.h>

#include "tsdb/tsdb_int.h"

void wal_encode(const tsdb_ref *sid, const int64_t *t, const double *v, size_t n, buf *out) {
    buf raw = {0};
    buf_reserve(&raw, 10 + n * 28);
    raw.len += varint_put(raw.data + raw.len, n);
    tsdb_ref prev_sid = 0;
    int64_t prev_t = 0;
    for (size_t i = 0; i < n; i++) {
        raw.len += varint_put(raw.data + raw.len, zigzag((int64_t)(sid[i] - prev_sid)));
        raw.len += varint_put(raw.data + raw.len, zigzag((int64_t)((uint64_t)t[i] - (uint64_t)prev_t)));
        memcpy(raw.data + raw.len, &v[i], 8);
        raw.len += 8;
        prev_sid = sid[i];
        prev_t = t[i];
    }
    size_t clen = snappy_max_compressed_length(raw.len);
    buf_reset(out);
    buf_reserve(out, clen);
    snappy_compress((const char *)raw.data, raw.len, (char *)out->data, &clen);
    out->len = clen;
    buf_free(&raw);
}

int wal_decode(const uint8_t *rec, size_t len, wal_sample_fn fn, void *ctx) {
    size_t rawlen;
    if (snappy_uncompressed_length((const char *)rec, len, &rawlen) != SNAPPY_OK) return -1;
    if (rawlen > (1u << 30)) return -1;
    uint8_t *raw = xmalloc(rawlen);
    if (snappy_uncompress((const char *)rec, len, (char *)raw, &rawlen) != SNAPPY_OK) {
        free(raw);
        return -1;
    }
    const uint8_t *p = raw, *end = raw + rawlen;
    uint64_t n, u;
    size_t k = varint_get(p, end, &n);
    int rc = -1;
    if (!k) goto out;
    p += k;
    tsdb_ref sid = 0;
    int64_t t = 0;
    for (uint64_t i = 0; i < n; i++) {
        if (!(k = varint_get(p, end, &u))) goto out;
        p += k;
        sid += (uint64_t)unzigzag(u);
        if (!(k = varint_get(p, end, &u))) goto out;
        p += k;
        t = (int64_t)((uint64_t)t + (uint64_t)unzigzag(u));
        if (end - p < 8) goto out;
        double v;
        memcpy(&v, p, 8);
        p += 8;
        fn(ctx, sid, t, v);
    }
    rc = p == end ? 0 : -1;
out:
    free(raw);
    return rc;
}
