/*
 * head_memory.c - memory per active series in the open-chunk state.
 *
 * usage: head_memory DIR SERIES
 * Creates SERIES node_exporter-like series (a CPU-seconds counter with two
 * decimals for most, a few full-precision gauges), appends samples in
 * scrape-sized batches (WAL mode, as the server will), and prints the
 * process RSS divided by the number of series when the open chunks are
 * first a quarter, half and nearly full, then its mean and peak over a
 * later whole chunk cycle, the steady state of a server.  RSS includes
 * everything: the maps, the open chunks, sealed chunks waiting to be
 * written, LMDB's mapped pages that were touched, allocator overhead, and
 * this program's own arrays (16 bytes per series).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tsdb/tsdb.h"

/* jemalloc's settings (configure.ac says why promlite links jemalloc):
 * return freed pages to the system after one second rather than ten, so
 * that the head's memory is close to what it holds.  Not at once: a query
 * allocates and frees megabytes, and mapping them afresh every time made
 * instant queries twice as slow.  MALLOC_CONF in the environment still
 * overrides these. */
const char *malloc_conf = "dirty_decay_ms:1000,muzzy_decay_ms:0";

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: head_memory DIR SERIES\n");
        return 2;
    }
    int n = atoi(argv[2]);
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", argv[1]);
    if (system(cmd)) return 1;
    tsdb_options o = {.path = argv[1]};
    tsdb *db;
    errbuf err;
    if (tsdb_open(&o, &db, &err)) {
        fprintf(stderr, "head_memory: %s\n", err.msg);
        return 1;
    }
    uint64_t rss0 = current_rss_bytes();
    tsdb_appender *a = tsdb_appender_new(db);
    tsdb_ref *refs = malloc((size_t)n * sizeof *refs);
    int64_t *cents = malloc((size_t)n * sizeof *cents);
    for (int s = 0; s < n; s++) {
        char inst[32], cpu[16];
        snprintf(inst, sizeof inst, "host-%04d:9100", s / 256);
        snprintf(cpu, sizeof cpu, "%d", s % 256);
        label l[] = {{"__name__", 8, "node_cpu_seconds_total", 22},
                     {"cpu", 3, cpu, (uint32_t)strlen(cpu)},
                     {"instance", 8, inst, (uint32_t)strlen(inst)},
                     {"job", 3, "node", 4},
                     {"mode", 4, "user", 4}};
        if (tsdb_appender_ref(a, l, 5, &refs[s], &err)) {
            fprintf(stderr, "head_memory: %s\n", err.msg);
            return 1;
        }
        cents[s] = (1000 + s) * 100LL;
    }
    srand(1);
    /* The first fill of the open chunks, at a quarter, half and nearly full;
     * then a whole chunk cycle later on (steps 240..480: sealing, persisting
     * and checkpoints included), sampled every 10 steps: its mean is what a
     * server holding these series costs on average, its maximum the peak. */
    int marks[] = {60, 120, 235};
    int m = 0, cycle_from = 240, cycle_to = 480, nsampled = 0;
    double sum = 0, max = 0, sum_anon = 0, sum_file = 0;
    for (int step = 0; step < cycle_to; step++) {
        for (int s = 0; s < n; s++) {
            /* 1 in 16 series carries full-precision floats, like scrape
             * durations; the rest are CPU-seconds counters with two
             * decimals, as the parser turns "1234.56" into a double. */
            double v = s % 16 == 0 ? (double)rand() / RAND_MAX * 0.01
                                   : (double)(cents[s] += rand() % 1500) / 100.0;
            tsdb_appender_add(a, refs[s], 1700000000000LL + (int64_t)step * 15000, v);
            if ((s + 1) % 10000 == 0 && tsdb_appender_commit(a, NULL, &err)) {
                fprintf(stderr, "head_memory: %s\n", err.msg);
                return 1;
            }
        }
        if (tsdb_appender_commit(a, NULL, &err)) {
            fprintf(stderr, "head_memory: %s\n", err.msg);
            return 1;
        }
        uint64_t rss = current_rss_bytes(), anon = current_rss_anon_bytes(), file = current_rss_file_bytes();
        if (m < 3 && step + 1 == marks[m]) {
            printf("head memory: %d series, %3d samples per open chunk: RSS %.1f MiB, %.0f bytes per series "
                   "(%.0f above the empty process; anonymous %.0f, LMDB map %.0f)\n",
                   n, marks[m], rss / 1048576.0, (double)rss / n, (double)(rss - rss0) / n, (double)anon / n,
                   (double)file / n);
            m++;
        }
        if (step >= cycle_from && (step - cycle_from) % 10 == 9) {
            double per = (double)rss / n;
            sum += per;
            sum_anon += (double)anon / n;
            sum_file += (double)file / n;
            if (per > max) max = per;
            nsampled++;
        }
    }
    printf("head memory: %d series, steady state over a chunk cycle (%d samples): mean %.0f bytes per series "
           "(anonymous %.0f, LMDB map %.0f), peak %.0f\n",
           n, cycle_to - cycle_from, sum / nsampled, sum_anon / nsampled, sum_file / nsampled, max);
    printf("head memory: target under 1024 bytes per active series (steady-state mean): %s\n",
           sum / nsampled < 1024 ? "met" : "MISSED");
    tsdb_appender_free(a);
    free(refs);
    free(cents);
    tsdb_close(db, &err);
    return 0;
}
