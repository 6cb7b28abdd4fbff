/*
 * wal.c - the write-ahead log: one append-only file, DATA/wal.
 *
 * Why a plain file and not LMDB: a scrape appends a record every few
 * seconds and a checkpoint throws the records away; kept in LMDB, those
 * records cost a B-tree update, LMDB's double sync per commit and a churn
 * of freed pages, and every page they touched stayed mapped in the process
 * (RSS) until the kernel dropped it.  An append-only file costs one write()
 * and one fdatasync() per batch, and its pages never enter the process.
 *
 * Layout: an 8-byte magic ("PLWAL01\n"), then records:
 *     u32 LE payload length, u32 LE XXH32(payload, seed = length), payload
 * A payload is one appended batch: varint(count), then per sample
 * zigzag-varint(series id delta), zigzag-varint(timestamp delta) and the 8
 * raw bytes of the value (bit-exact), the whole compressed with snappy.
 * Deltas keep a scrape's record small (ids of one target are close, its
 * timestamps equal); snappy then removes the repetition among values.
 *
 * A record is written with one write() on an O_APPEND descriptor and then
 * synced (or, with tsdb_options.wal_sync_interval_ms, synced once that
 * interval has passed since the last sync); a write that fails part-way is
 * cut off again with ftruncate(), so the file only ever ends in a torn
 * record after a power loss.  Replay
 * stops at the first record whose length or checksum is wrong and (unless
 * the database is opened read-only) truncates the file there.
 *
 * Records name series by id only: the appender commits new series to the
 * LMDB index before it writes a record that refers to them.
 *
 * Threads: called under the database's writer lock only.
 */
#include <errno.h>
#include <fcntl.h>
#include <snappy-c.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <xxhash.h>

#include "tsdb/tsdb_int.h"

#define WAL_MAGIC "PLWAL01\n"
#define WAL_HEADER 8
#define WAL_RECORD_MAX (1u << 30)

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
    if (rawlen > WAL_RECORD_MAX) return -1;
    uint8_t *raw = xmalloc(rawlen ? rawlen : 1);
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

static void wal_path(const tsdb *db, char *out, size_t outlen) { snprintf(out, outlen, "%s/wal", db->path); }

static int wal_io_error(tsdb *db, errbuf *err, const char *what, int e) {
    char p[4200];
    wal_path(db, p, sizeof p);
    if (e == ENOSPC || e == EFBIG || e == EDQUOT)
        return errf(err, "%s %s: %s (no space left for the data folder; stored data is intact, free space and retry)",
                    what, p, strerror(e));
    return errf(err, "%s %s: %s", what, p, strerror(e));
}

/* Writes all of n bytes at the current end (the descriptor is O_APPEND). */
static int write_all(int fd, struct iovec *iov, int iovcnt) {
    while (iovcnt > 0) {
        ssize_t w = writev(fd, iov, iovcnt);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        if (w == 0) {
            errno = ENOSPC;
            return -1;
        }
        while (iovcnt > 0 && (size_t)w >= iov->iov_len) {
            w -= (ssize_t)iov->iov_len;
            iov++;
            iovcnt--;
        }
        if (iovcnt > 0) {
            iov->iov_base = (uint8_t *)iov->iov_base + w;
            iov->iov_len -= (size_t)w;
        }
    }
    return 0;
}

int wal_open(tsdb *db, errbuf *err) {
    char p[4200];
    wal_path(db, p, sizeof p);
    db->wal_bytes = 0;
    db->wal_fd = open(p, (db->opts.read_only ? O_RDONLY : O_RDWR | O_CREAT | O_APPEND) | O_CLOEXEC, 0644);
    if (db->wal_fd < 0) {
        if (db->opts.read_only && errno == ENOENT) return 0; /* nothing logged yet */
        return wal_io_error(db, err, "cannot open", errno);
    }
    struct stat st;
    if (fstat(db->wal_fd, &st)) return wal_io_error(db, err, "cannot stat", errno);
    if (st.st_size == 0) {
        if (db->opts.read_only) return 0;
        struct iovec iov = {(void *)WAL_MAGIC, WAL_HEADER};
        if (write_all(db->wal_fd, &iov, 1) || fdatasync(db->wal_fd)) {
            int e = errno;
            if (ftruncate(db->wal_fd, 0)) { /* left empty: recreated next time */ }
            return wal_io_error(db, err, "cannot write", e);
        }
        return 0;
    }
    char magic[WAL_HEADER];
    if (st.st_size < WAL_HEADER || pread(db->wal_fd, magic, WAL_HEADER, 0) != WAL_HEADER ||
        memcmp(magic, WAL_MAGIC, WAL_HEADER))
        return errf(err, "%s is not a promlite write-ahead log (bad header); move it away to start without it", p);
    db->wal_bytes = (uint64_t)st.st_size - WAL_HEADER;
    return 0;
}

void wal_close(tsdb *db) {
    if (db->wal_fd >= 0) close(db->wal_fd);
    db->wal_fd = -1;
}

int wal_append(tsdb *db, const uint8_t *rec, size_t len, errbuf *err) {
    if (len > WAL_RECORD_MAX) return errf(err, "a batch of %zu compressed bytes is too large for the WAL", len);
    uint8_t hdr[8];
    uint32_t l = (uint32_t)len, sum = XXH32(rec, len, l);
    for (int i = 0; i < 4; i++) {
        hdr[i] = (uint8_t)(l >> (8 * i));
        hdr[4 + i] = (uint8_t)(sum >> (8 * i));
    }
    struct iovec iov[2] = {{hdr, 8}, {(void *)rec, len}};
    /* With a sync interval, the sync waits until the interval has passed
     * since the last one: the record is in the kernel (it survives the
     * process being killed) but a power loss may take the last interval. */
    double now = db->opts.wal_sync_interval_ms ? mono_seconds() : 0;
    int sync = !db->opts.wal_sync_interval_ms || now - db->wal_synced_at >= db->opts.wal_sync_interval_ms / 1000.0;
    if (write_all(db->wal_fd, iov, 2) || (sync && fdatasync(db->wal_fd))) {
        int e = errno;
        /* Cut a partial record off so that the log stays well-formed. */
        if (ftruncate(db->wal_fd, (off_t)(WAL_HEADER + db->wal_bytes))) { /* replay stops at it */ }
        return wal_io_error(db, err, "cannot append to", e);
    }
    db->wal_bytes += 8 + len;
    if (sync) db->wal_synced_at = now;
    return 0;
}

int wal_reset(tsdb *db, errbuf *err) {
    if (db->wal_bytes == 0) return 0;
    if (ftruncate(db->wal_fd, WAL_HEADER) || fdatasync(db->wal_fd))
        return wal_io_error(db, err, "cannot trim", errno);
    db->wal_bytes = 0;
    return 0;
}

int wal_replay(tsdb *db, wal_sample_fn fn, void *ctx, errbuf *err) {
    if (db->wal_fd < 0 || db->wal_bytes == 0) return 0;
    uint64_t end = WAL_HEADER + db->wal_bytes, off = WAL_HEADER;
    uint8_t *payload = NULL;
    size_t cap = 0;
    const char *why = NULL;
    while (off < end) {
        uint8_t hdr[8];
        if (end - off < 8 || pread(db->wal_fd, hdr, 8, (off_t)off) != 8) {
            why = "a torn record header";
            break;
        }
        uint32_t len = 0, sum = 0;
        for (int i = 3; i >= 0; i--) {
            len = len << 8 | hdr[i];
            sum = sum << 8 | hdr[4 + i];
        }
        if (len > WAL_RECORD_MAX || end - off - 8 < len) {
            why = "a torn record";
            break;
        }
        if (len > cap) {
            cap = len;
            payload = xrealloc(payload, cap);
        }
        if (pread(db->wal_fd, payload, len, (off_t)(off + 8)) != (ssize_t)len) {
            int e = errno;
            free(payload);
            return wal_io_error(db, err, "cannot read", e ? e : EIO);
        }
        if (XXH32(payload, len, len) != sum) {
            why = "a record with a wrong checksum";
            break;
        }
        if (wal_decode(payload, len, fn, ctx)) {
            why = "a record that does not decode";
            break;
        }
        off += 8 + (uint64_t)len;
    }
    free(payload);
    if (why) {
        char p[4200];
        wal_path(db, p, sizeof p);
        fprintf(stderr,
                "promlite: warning: %s ends in %s at byte %llu (a write cut short by a crash or power loss); "
                "%llu bytes after it are dropped\n",
                p, why, (unsigned long long)off, (unsigned long long)(end - off));
        if (!db->opts.read_only) {
            if (ftruncate(db->wal_fd, (off_t)off) || fdatasync(db->wal_fd))
                return wal_io_error(db, err, "cannot truncate", errno);
        }
        db->wal_bytes = off - WAL_HEADER;
    }
    return 0;
}
