/*
 * import.c - see import.h.
 *
 * The input is read in large pieces that end at a line boundary and parsed
 * in place.  Each sample's series is found by its raw text (metric name and
 * label set exactly as written) in a cache that maps text to series ref, so
 * labels are parsed into a label set and validated only the first time a
 * series is seen; consecutive samples of one series (the OpenMetrics layout)
 * skip even the cache lookup.  Samples are committed in large batches, which
 * the storage makes durable by writing chunks directly (no WAL).
 */
#include "ingest/import.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "ingest/expfmt.h"

#define READ_PIECE (4u << 20)
#define MAX_LINE (64u << 20)
#define DEFAULT_BATCH_SAMPLES 1000000

/* ------------------------------------------------------------ series cache */

typedef struct {
    uint64_t hash;
    char *text;          /* owned copy of the raw series text */
    uint32_t len;
    tsdb_ref ref;        /* 0: the series was rejected */
} cache_entry;

typedef struct {
    cache_entry *slots;
    size_t cap, count;
} series_cache;

static void cache_init(series_cache *c) {
    c->cap = 4096;
    c->count = 0;
    c->slots = xcalloc(c->cap, sizeof *c->slots);
}

static void cache_free(series_cache *c) {
    for (size_t i = 0; i < c->cap; i++) free(c->slots[i].text);
    free(c->slots);
}

static cache_entry *cache_find(series_cache *c, const char *text, size_t len, uint64_t hash) {
    size_t i = hash & (c->cap - 1);
    while (c->slots[i].text) {
        if (c->slots[i].hash == hash && c->slots[i].len == len && !memcmp(c->slots[i].text, text, len))
            return &c->slots[i];
        i = (i + 1) & (c->cap - 1);
    }
    return NULL;
}

static cache_entry *cache_add(series_cache *c, const char *text, size_t len, uint64_t hash, tsdb_ref ref) {
    if ((c->count + 1) * 4 > c->cap * 3) {
        cache_entry *old = c->slots;
        size_t oldcap = c->cap;
        c->cap *= 2;
        c->slots = xcalloc(c->cap, sizeof *c->slots);
        for (size_t i = 0; i < oldcap; i++) {
            if (!old[i].text) continue;
            size_t j = old[i].hash & (c->cap - 1);
            while (c->slots[j].text) j = (j + 1) & (c->cap - 1);
            c->slots[j] = old[i];
        }
        free(old);
    }
    size_t i = hash & (c->cap - 1);
    while (c->slots[i].text) i = (i + 1) & (c->cap - 1);
    c->slots[i].hash = hash;
    c->slots[i].text = xstrndup(text, len);
    c->slots[i].len = (uint32_t)len;
    c->slots[i].ref = ref;
    c->count++;
    return &c->slots[i];
}

/* ------------------------------------------------------------ values */

void format_value(double v, char *out, size_t outlen) {
    if (isnan(v)) {
        uint64_t bits;
        memcpy(&bits, &v, 8);
        if (bits == 0x7ff8000000000001ULL)
            snprintf(out, outlen, "NaN");
        else
            snprintf(out, outlen, "NaN:0x%016llx", (unsigned long long)bits);
        return;
    }
    char text[FLOAT_TEXT_MAX];
    snprintf(out, outlen, "%s", format_float(v, text));
}

/* ------------------------------------------------------------ progress */

typedef struct {
    import_progress mode;
    uint64_t total_bytes;   /* 0 when unknown */
    double started, last;
} progress;

static void progress_update(progress *p, const import_result *r, int final) {
    if (p->mode == PROGRESS_NONE) return;
    double now = mono_seconds();
    double every = p->mode == PROGRESS_BAR ? 0.2 : 5.0;
    if (!final && now - p->last < every) return;
    p->last = now;
    double el = now - p->started;
    double rate = el > 0 ? (double)r->samples_read / el : 0;
    if (p->mode == PROGRESS_BAR) {
        char line[160];
        if (p->total_bytes) {
            double f = (double)r->bytes / (double)p->total_bytes;
            if (f > 1) f = 1;
            int w = 30, fill = (int)(f * w);
            char bar[40];
            for (int i = 0; i < w; i++) bar[i] = i < fill ? '#' : '.';
            bar[w] = 0;
            snprintf(line, sizeof line, "[%s] %5.1f%%  %llu samples  %.0f k/s", bar, f * 100,
                     (unsigned long long)r->samples_read, rate / 1000);
        } else {
            snprintf(line, sizeof line, "%llu samples  %.0f k/s", (unsigned long long)r->samples_read, rate / 1000);
        }
        fprintf(stderr, "\r%-78s%s", line, final ? "\n" : "");
    } else {
        char done[32], total[32];
        if (p->total_bytes)
            fprintf(stderr, "import: %llu samples read, %s of %s (%.0f%%), %.0f samples/s\n",
                    (unsigned long long)r->samples_read, human_bytes((double)r->bytes, done, sizeof done),
                    human_bytes((double)p->total_bytes, total, sizeof total),
                    100.0 * (double)r->bytes / (double)p->total_bytes, rate);
        else
            fprintf(stderr, "import: %llu samples read, %s, %.0f samples/s\n", (unsigned long long)r->samples_read,
                    human_bytes((double)r->bytes, done, sizeof done), rate);
    }
    fflush(stderr);
}

/* ------------------------------------------------------------ format detection */

/* A regular file is OpenMetrics when it ends with "# EOF"; a stream is, unless
 * it starts with the dump header.  --format overrides both. */
static import_format detect_format(int fd, const char *head, size_t headlen) {
    static const char dump_marker[] = "# promlite tsdb dump";
    if (headlen >= sizeof dump_marker - 1 && !memcmp(head, dump_marker, sizeof dump_marker - 1))
        return IMPORT_FORMAT_TEXT;
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
        char tail[16];
        off_t from = st.st_size > (off_t)sizeof tail ? st.st_size - (off_t)sizeof tail : 0;
        ssize_t n = pread(fd, tail, sizeof tail, from);
        while (n > 0 && (tail[n - 1] == '\n' || tail[n - 1] == '\r')) n--;
        return n >= 5 && !memcmp(tail + n - 5, "# EOF", 5) ? IMPORT_FORMAT_OPENMETRICS : IMPORT_FORMAT_TEXT;
    }
    return IMPORT_FORMAT_OPENMETRICS;
}

/* ------------------------------------------------------------ the import */

typedef struct {
    tsdb *db;
    tsdb_appender *app;
    series_cache cache;
    label *labels;
    size_t labels_cap;
    import_result *res;
    const char *last_text;   /* raw text of the previous sample's series */
    size_t last_len;
    tsdb_ref last_ref;
} importer;

static int commit_batch(importer *im, errbuf *err) {
    tsdb_append_stats st;
    if (tsdb_appender_commit(im->app, &st, err)) return -1;
    tsdb_append_stats *a = &im->res->appended;
    a->appended += st.appended;
    a->out_of_order += st.out_of_order;
    a->duplicate += st.duplicate;
    a->identical += st.identical;
    a->unknown_ref += st.unknown_ref;
    a->new_series += st.new_series;
    return 0;
}

/* Resolves a parsed sample's series to a ref (0 when rejected). */
static tsdb_ref resolve_series(importer *im, const expfmt_sample *s, const char *name, errbuf *err) {
    uint64_t hash = XXH3_64bits(s->series, s->series_len);
    cache_entry *e = cache_find(&im->cache, s->series, s->series_len, hash);
    if (e) return e->ref;
    if (s->nlabels + 1 > im->labels_cap) {
        im->labels_cap = s->nlabels + 16;
        im->labels = xrealloc(im->labels, im->labels_cap * sizeof *im->labels);
    }
    label *l = im->labels;
    l[0] = (label){METRIC_NAME_LABEL, 8, s->metric, (uint32_t)s->metric_len};
    for (size_t i = 0; i < s->nlabels; i++)
        l[i + 1] = (label){s->labels[i].name, (uint32_t)s->labels[i].name_len, s->labels[i].value,
                           (uint32_t)s->labels[i].value_len};
    tsdb_ref ref = 0;
    errbuf lerr;
    if (tsdb_appender_ref(im->app, l, s->nlabels + 1, &ref, &lerr)) {
        fprintf(stderr, "promlite import: %s: series %.*s rejected: %s\n", name, (int)s->series_len, s->series,
                lerr.msg);
        ref = 0;
    }
    (void)err;
    im->res->series_seen++;
    cache_add(&im->cache, s->series, s->series_len, hash, ref);
    return ref;
}

/* Pulls every item of the current piece.  Returns 0, or -1 on a syntax
 * error or a failed commit. */
static int consume(importer *im, expfmt_parser *p, const char *name, errbuf *err) {
    expfmt_item it;
    for (;;) {
        expfmt_kind k = expfmt_next(p, &it);
        if (k == EXPFMT_END) return 0;
        if (k == EXPFMT_ERROR) return errf(err, "%s:%s", name, expfmt_error(p));
        if (k != EXPFMT_SAMPLE) continue;
        const expfmt_sample *s = &it.sample;
        im->res->samples_read++;
        if (!s->has_timestamp) {
            im->res->no_timestamp++;
            continue;
        }
        tsdb_ref ref;
        if (im->last_text && s->series_len == im->last_len && !memcmp(s->series, im->last_text, s->series_len)) {
            ref = im->last_ref;
        } else {
            ref = resolve_series(im, s, name, err);
            im->last_text = s->series;
            im->last_len = s->series_len;
            im->last_ref = ref;
        }
        if (!ref) {
            im->res->invalid_series++;
            continue;
        }
        tsdb_appender_add(im->app, ref, s->timestamp_ms, s->value);
    }
}

int import_stream(tsdb *db, int fd, const char *name, const import_options *opts, import_result *res,
                  errbuf *err) {
    memset(res, 0, sizeof *res);
    double t0 = mono_seconds(), c0 = cpu_seconds();
    uint64_t batch_samples = opts->batch_samples ? opts->batch_samples : DEFAULT_BATCH_SAMPLES;
    size_t cap = READ_PIECE, len = 0;
    char *data = xmalloc(cap);
    importer im = {.db = db, .res = res};
    im.app = tsdb_appender_new(db);
    cache_init(&im.cache);
    progress prog = {.mode = opts->progress, .started = t0, .last = t0};
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) prog.total_bytes = (uint64_t)st.st_size;

    expfmt_parser *p = NULL;
    int rc = 0, eof = 0;
    while (!eof) {
        ssize_t n = read(fd, data + len, cap - len);
        if (n < 0) {
            if (errno == EINTR) continue;
            rc = errf(err, "reading %s: %s", name, strerror(errno));
            break;
        }
        if (n == 0) eof = 1;
        len += (size_t)n;
        res->bytes += (uint64_t)n;
        if (!p) {
            if (len < 64 && !eof) continue;
            res->format = opts->format != IMPORT_FORMAT_AUTO ? opts->format : detect_format(fd, data, len);
            p = expfmt_new(res->format == IMPORT_FORMAT_OPENMETRICS ? EXPFMT_OPENMETRICS : EXPFMT_TEXT);
        }
        /* Parse up to the last complete line; keep the rest for the next read. */
        size_t upto = len;
        if (!eof) {
            while (upto > 0 && data[upto - 1] != '\n') upto--;
            if (upto == 0) {
                if (cap >= MAX_LINE) {
                    rc = errf(err, "%s: a line is longer than %u MiB", name, MAX_LINE >> 20);
                    break;
                }
                cap *= 2;
                data = xrealloc(data, cap);
                continue;
            }
        }
        expfmt_input(p, data, upto, eof);
        if ((rc = consume(&im, p, name, err))) break;
        if (tsdb_appender_pending(im.app) >= batch_samples || eof) {
            if ((rc = commit_batch(&im, err))) break;
        }
        im.last_text = NULL; /* points into the part about to move */
        memmove(data, data + upto, len - upto);
        len -= upto;
        progress_update(&prog, res, 0);
    }
    if (rc == 0 && p && expfmt_finish(p)) rc = errf(err, "%s:%s", name, expfmt_error(p));
    if (rc == 0 && !p) res->format = opts->format;
    progress_update(&prog, res, 1);
    expfmt_free(p);
    tsdb_appender_free(im.app);
    cache_free(&im.cache);
    free(im.labels);
    free(data);
    res->seconds = mono_seconds() - t0;
    res->cpu_seconds = cpu_seconds() - c0;
    return rc;
}
