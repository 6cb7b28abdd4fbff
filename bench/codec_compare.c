/*
 * codec_compare.c - how many bytes per sample each sealed-chunk codec takes
 * on real-shaped data, and how fast encoding and decoding are.
 *
 *   codec_compare [-q] < data.om
 *
 * Reads OpenMetrics text ("series value timestamp_seconds" lines; '#' lines
 * skipped except "# TYPE", which names the family of the lines after it),
 * groups the samples per series, and cuts each series into chunks exactly
 * as the storage does: an open chunk is sealed before an append when it
 * holds 240 samples or its bit stream has reached 1024 bytes.  Every chunk
 * is then encoded with each codec family alone (falling back to xor where
 * the family cannot code a chunk) and with the encoder's own choice, and
 * decoded again to check it round-trips bit for bit.
 *
 * Printed: bytes/sample (chunk bytes only, no keys) overall and per metric
 * family, for the open chunk (Gorilla, a stand-in for Prometheus's XOR
 * chunks), xor, dec, bits, const and best; the part of "best" spent on the
 * header and timestamps; how often each codec and time form wins; and
 * encode/decode speed (CPU time, one thread).  -q prints the totals only.
 *
 * Parsing is naive on purpose (the value and timestamp are the last two
 * space-separated fields); it is a measuring tool, not a parser.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tsdb/chunkenc.h"

#define MAX_SAMPLES 240
#define CUT_BYTES 1024
#define NCOLS 6           /* open, best, xor, dec, bits, const */

typedef struct series {
    char *key;
    int family;
    size_t n, cap;
    int64_t *ts;
    double *vs;
} series;

typedef struct chunk_ref {
    size_t series, off, n;
} chunk_ref;

typedef struct family {
    char *name;
    size_t samples;
    size_t bytes[NCOLS];
    size_t time_bytes;
} family;

static const char *const col_names[NCOLS] = {"open", "best", "xor", "dec", "bits", "const"};

static void *xrealloc(void *p, size_t n) {
    void *q = realloc(p, n ? n : 1);
    if (!q) {
        perror("realloc");
        exit(1);
    }
    return q;
}

static double cpu_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static uint64_t hash_str(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

/* Series table: open addressing on the series text. */
typedef struct table {
    series *s;
    size_t n, cap;
    size_t *slots;            /* index+1, 0 = empty */
    size_t nslots;
} table;

static size_t series_lookup(table *t, const char *key, size_t klen, int fam) {
    if (t->n * 2 >= t->nslots) {
        size_t ns = t->nslots ? t->nslots * 2 : 1024;
        size_t *sl = calloc(ns, sizeof *sl);
        if (!sl) exit(1);
        for (size_t i = 0; i < t->n; i++) {
            uint64_t h = hash_str(t->s[i].key, strlen(t->s[i].key));
            size_t j = h & (ns - 1);
            while (sl[j]) j = (j + 1) & (ns - 1);
            sl[j] = i + 1;
        }
        free(t->slots);
        t->slots = sl;
        t->nslots = ns;
    }
    size_t j = hash_str(key, klen) & (t->nslots - 1);
    while (t->slots[j]) {
        series *s = &t->s[t->slots[j] - 1];
        if (strlen(s->key) == klen && !memcmp(s->key, key, klen)) return t->slots[j] - 1;
        j = (j + 1) & (t->nslots - 1);
    }
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 256;
        t->s = xrealloc(t->s, t->cap * sizeof *t->s);
    }
    series *s = &t->s[t->n];
    memset(s, 0, sizeof *s);
    s->key = xrealloc(NULL, klen + 1);
    memcpy(s->key, key, klen);
    s->key[klen] = 0;
    s->family = fam;
    t->slots[j] = ++t->n;
    return t->n - 1;
}

int main(int argc, char **argv) {
    int quiet = argc > 1 && !strcmp(argv[1], "-q");
    table tab = {0};
    family *fams = NULL;
    size_t nfams = 0;
    char *line = NULL;
    size_t lcap = 0;
    ssize_t len;
    size_t total = 0, bad = 0;
    int fam = -1;

    /* Read and group. */
    while ((len = getline(&line, &lcap, stdin)) > 0) {
        if (line[len - 1] == '\n') line[--len] = 0;
        if (line[0] == '#') {
            if (!strncmp(line, "# TYPE ", 7)) {
                char *name = line + 7, *sp = strchr(name, ' ');
                if (sp) *sp = 0;
                fams = xrealloc(fams, (nfams + 1) * sizeof *fams);
                memset(&fams[nfams], 0, sizeof *fams);
                fams[nfams].name = strdup(name);
                fam = (int)nfams++;
            }
            continue;
        }
        char *sp2 = strrchr(line, ' ');
        if (!sp2) { bad++; continue; }
        *sp2 = 0;
        char *sp1 = strrchr(line, ' ');
        if (!sp1) { bad++; continue; }
        *sp1 = 0;
        double v = strtod(sp1 + 1, NULL);
        int64_t t = llround(strtod(sp2 + 1, NULL) * 1000.0);
        if (fam < 0) {
            fams = xrealloc(fams, sizeof *fams);
            memset(fams, 0, sizeof *fams);
            fams[0].name = strdup("(none)");
            fam = 0;
            nfams = 1;
        }
        size_t si = series_lookup(&tab, line, (size_t)(sp1 - line), fam);
        series *s = &tab.s[si];
        if (s->n && t <= s->ts[s->n - 1]) { bad++; continue; }  /* out of order */
        if (s->n == s->cap) {
            s->cap = s->cap ? s->cap * 2 : 64;
            s->ts = xrealloc(s->ts, s->cap * sizeof *s->ts);
            s->vs = xrealloc(s->vs, s->cap * sizeof *s->vs);
        }
        s->ts[s->n] = t;
        s->vs[s->n++] = v;
        total++;
    }
    free(line);
    if (!total) {
        fprintf(stderr, "no samples\n");
        return 1;
    }

    /* Cut into chunks as the storage does; time open chunk decoding (append
     * speed is timed below, per chunk: a clock read per sample would cost
     * more than the append itself). */
    chunk_ref *chunks = NULL;
    size_t nchunks = 0, ccap = 0;
    size_t open_bytes_total = 0;
    int64_t *dts = xrealloc(NULL, 70000 * sizeof *dts);
    double *dvs = xrealloc(NULL, 70000 * sizeof *dvs);
    double t_odecode = 0;
    for (size_t si = 0; si < tab.n; si++) {
        series *s = &tab.s[si];
        open_chunk oc;
        open_chunk_init(&oc);
        size_t start = 0;
        for (size_t i = 0; i <= s->n; i++) {
            if (i == s->n || oc.count >= MAX_SAMPLES || open_chunk_bytes(&oc) >= CUT_BYTES) {
                if (oc.count) {
                    double t0 = cpu_seconds();
                    int got = open_chunk_decode(oc.buf, oc.nbits, oc.count, dts, dvs);
                    t_odecode += cpu_seconds() - t0;
                    if (got != oc.count ||
                        memcmp(dts, s->ts + start, (size_t)got * sizeof *dts) ||
                        memcmp(dvs, s->vs + start, (size_t)got * sizeof *dvs)) {
                        fprintf(stderr, "open chunk round trip failed: %s\n", s->key);
                        return 1;
                    }
                    if (nchunks == ccap) {
                        ccap = ccap ? ccap * 2 : 1024;
                        chunks = xrealloc(chunks, ccap * sizeof *chunks);
                    }
                    chunks[nchunks++] = (chunk_ref){si, start, oc.count};
                    open_bytes_total += open_chunk_bytes(&oc);
                    fams[s->family].bytes[0] += open_chunk_bytes(&oc);
                    open_chunk_free(&oc);
                }
                start = i;
                if (i == s->n) break;
            }
            if (open_chunk_append(&oc, s->ts[i], s->vs[i])) {
                fprintf(stderr, "append failed\n");
                return 1;
            }
        }
        fams[s->family].samples += s->n;
    }

    /* Append speed: rebuild every chunk, one clock read per chunk. */
    double t_append = 0;
    for (size_t c = 0; c < nchunks; c++) {
        series *s = &tab.s[chunks[c].series];
        open_chunk oc;
        open_chunk_init(&oc);
        double t0 = cpu_seconds();
        for (size_t i = chunks[c].off; i < chunks[c].off + chunks[c].n; i++)
            if (open_chunk_append(&oc, s->ts[i], s->vs[i])) return 1;
        t_append += cpu_seconds() - t0;
        open_chunk_free(&oc);
    }

    /* Encode every chunk with every codec; check the round trip. */
    uint8_t *enc = xrealloc(NULL, CHUNK_ENCODE_BOUND(70000));
    size_t col_total[NCOLS] = {open_bytes_total};
    size_t applicable[NCOLS] = {0};
    size_t vc_samples[16] = {0}, tf_samples[8] = {0};
    const char *vc_names[16] = {0}, *tf_names[8] = {0};
    size_t time_total = 0, max_chunk = 0;
    double t_encode = 0;
    static const enum chunk_codec codecs[NCOLS] = {0, CHUNK_CODEC_BEST, CHUNK_CODEC_XOR,
                                                   CHUNK_CODEC_DEC, CHUNK_CODEC_BITS,
                                                   CHUNK_CODEC_CONST};
    double *zeros = calloc(70000, sizeof *zeros);
    if (!zeros) return 1;
    for (size_t c = 0; c < nchunks; c++) {
        series *s = &tab.s[chunks[c].series];
        const int64_t *ts = s->ts + chunks[c].off;
        const double *vs = s->vs + chunks[c].off;
        size_t n = chunks[c].n;
        size_t xor_len = 0;
        for (int col = 1; col < NCOLS; col++) {
            double t0 = cpu_seconds();
            size_t l = chunk_encode_codec(ts, vs, n, codecs[col], enc);
            if (col == 1) t_encode += cpu_seconds() - t0;
            if (col == 2) xor_len = l;
            if (l) {
                int got = chunk_decode(enc, l, dts, dvs, n);
                if (got != (int)n || memcmp(dts, ts, n * sizeof *ts) || memcmp(dvs, vs, n * sizeof *vs)) {
                    fprintf(stderr, "round trip failed: codec %s, series %s\n", col_names[col], s->key);
                    return 1;
                }
                applicable[col] += n;
                if (col == 1) {
                    if (l > max_chunk) max_chunk = l;
                    /* codec usage, by name */
                    const char *vn = chunk_codec_name(enc, l), *tn = chunk_time_codec_name(enc, l);
                    for (int j = 0; j < 16; j++)
                        if (!vc_names[j] || !strcmp(vc_names[j], vn)) { vc_names[j] = vn; vc_samples[j] += n; break; }
                    for (int j = 0; j < 8; j++)
                        if (!tf_names[j] || !strcmp(tf_names[j], tn)) { tf_names[j] = tn; tf_samples[j] += n; break; }
                }
            } else {
                l = xor_len;         /* not applicable: the chunk stays xor */
            }
            col_total[col] += l;
            fams[s->family].bytes[col] += l;
        }
        /* Header + timestamps: the best chunk of all-zero values, minus the
         * const value's 8 bytes and the 2 check bytes. */
        size_t tl = chunk_encode_codec(ts, zeros, n, CHUNK_CODEC_CONST, enc) - 10;
        time_total += tl;
        fams[s->family].time_bytes += tl;
    }

    /* Decode speed: every best chunk, several rounds. */
    uint8_t *all = NULL;
    size_t all_len = 0, all_cap = 0;
    size_t *offs = xrealloc(NULL, (nchunks + 1) * sizeof *offs);
    for (size_t c = 0; c < nchunks; c++) {
        series *s = &tab.s[chunks[c].series];
        size_t l = chunk_encode(s->ts + chunks[c].off, s->vs + chunks[c].off, chunks[c].n, enc);
        if (all_len + l > all_cap) {
            all_cap = (all_len + l) * 2;
            all = xrealloc(all, all_cap);
        }
        memcpy(all + all_len, enc, l);
        offs[c] = all_len;
        all_len += l;
    }
    offs[nchunks] = all_len;
    int rounds = 5;
    volatile double sink = 0;
    double t0 = cpu_seconds();
    for (int r = 0; r < rounds; r++) {
        for (size_t c = 0; c < nchunks; c++) {
            int got = chunk_decode(all + offs[c], offs[c + 1] - offs[c], dts, dvs, 70000);
            if (got <= 0) return 1;
            sink += dvs[got - 1];
        }
    }
    double t_decode = (cpu_seconds() - t0) / rounds;
    (void)sink;

    /* Report. */
    printf("samples %zu  series %zu  chunks %zu (%.1f samples/chunk, largest %zu bytes)  skipped lines %zu\n",
           total, tab.n, nchunks, (double)total / (double)nchunks, max_chunk, bad);
    printf("\nbytes/sample, chunk bytes only (n/a chunks counted as xor; %% = samples the codec could code)\n");
    for (int col = 0; col < NCOLS; col++) {
        printf("  %-6s %6.3f", col_names[col], (double)col_total[col] / (double)total);
        if (col >= 2) printf("   (%5.1f%%)", 100.0 * (double)applicable[col] / (double)total);
        if (col == 0) printf("   (open chunk: Gorilla dod+XOR, as Prometheus)");
        if (col == 1) printf("   of which header+timestamps %.3f", (double)time_total / (double)total);
        printf("\n");
    }
    printf("\nbest codec use (share of samples):");
    for (int j = 0; j < 16 && vc_names[j]; j++) printf(" %s %.1f%%", vc_names[j], 100.0 * (double)vc_samples[j] / (double)total);
    printf("\ntime forms:");
    for (int j = 0; j < 8 && tf_names[j]; j++) printf(" %s %.1f%%", tf_names[j], 100.0 * (double)tf_samples[j] / (double)total);
    printf("\n\nspeed (CPU, one thread):\n");
    printf("  open_chunk_append  %7.1f M samples/s\n", (double)total / t_append / 1e6);
    printf("  open_chunk_decode  %7.1f M samples/s\n", (double)total / t_odecode / 1e6);
    printf("  chunk_encode       %7.1f M samples/s  (%.0f ns/sample)\n", (double)total / t_encode / 1e6, t_encode / (double)total * 1e9);
    printf("  chunk_decode       %7.1f M samples/s  (%.1f ns/sample)\n", (double)total / t_decode / 1e6, t_decode / (double)total * 1e9);

    if (!quiet) {
        /* Families by share of the best bytes. */
        size_t *order = xrealloc(NULL, nfams * sizeof *order);
        for (size_t i = 0; i < nfams; i++) order[i] = i;
        for (size_t i = 1; i < nfams; i++)
            for (size_t j = i; j > 0 && fams[order[j]].bytes[1] > fams[order[j - 1]].bytes[1]; j--) {
                size_t tmp = order[j]; order[j] = order[j - 1]; order[j - 1] = tmp;
            }
        printf("\nper family, bytes/sample (by share of best bytes)\n");
        printf("%-42s %8s %6s %6s %6s %6s %6s %6s %6s %6s\n", "family", "samples", "open", "best", "xor",
               "dec", "bits", "const", "time", "share");
        for (size_t i = 0; i < nfams; i++) {
            family *f = &fams[order[i]];
            if (!f->samples) continue;
            printf("%-42s %8zu", f->name, f->samples);
            for (int col = 0; col < NCOLS; col++) printf(" %6.3f", (double)f->bytes[col] / (double)f->samples);
            printf(" %6.3f %5.1f%%\n", (double)f->time_bytes / (double)f->samples,
                   100.0 * (double)f->bytes[1] / (double)col_total[1]);
        }
        free(order);
    }

    for (size_t i = 0; i < tab.n; i++) {
        free(tab.s[i].key);
        free(tab.s[i].ts);
        free(tab.s[i].vs);
    }
    for (size_t i = 0; i < nfams; i++) free(fams[i].name);
    free(fams);
    free(tab.s);
    free(tab.slots);
    free(chunks);
    free(dts);
    free(dvs);
    free(enc);
    free(zeros);
    free(all);
    free(offs);
    return 0;
}
