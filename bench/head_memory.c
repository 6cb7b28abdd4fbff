/*
 * head_memory.c - memory per active series in the open-chunk state.
 *
 * usage: head_memory DIR SERIES
 * Creates SERIES node_exporter-like series (a CPU-seconds counter with two
 * decimals for most, a few full-precision gauges), appends samples in
 * scrape-sized batches (WAL mode, as the server will), and prints the
 * process RSS divided by the number of series when the open chunks are
 * a quarter, half and nearly full.  RSS includes everything: the maps, the
 * open chunks, LMDB's mapped pages that were touched, malloc overhead.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tsdb/tsdb.h"

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
    int marks[] = {60, 120, 235};
    int step = 0;
    for (int m = 0; m < 3; m++) {
        for (; step < marks[m]; step++) {
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
            if (tsdb_appender_commit(a, NULL, &err)) return 1;
        }
        uint64_t rss = current_rss_bytes(), anon = current_rss_anon_bytes(), file = current_rss_file_bytes();
        printf("head memory: %d series, %3d samples per open chunk: RSS %.1f MiB, %.0f bytes per series "
               "(%.0f above the empty process; anonymous %.0f, LMDB map %.0f)\n",
               n, step, rss / 1048576.0, (double)rss / n, (double)(rss - rss0) / n, (double)anon / n,
               (double)file / n);
    }
    tsdb_appender_free(a);
    free(refs);
    free(cents);
    tsdb_close(db, &err);
    return 0;
}
