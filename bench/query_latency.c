/*
 * query_latency.c - PromQL latency over a data folder: the headline
 * queries of the node_exporter-shaped dataset, as instant queries at the
 * end of the data and as range queries over its last 2 h at 15 s steps.
 *
 * usage: query_latency DIR [RUNS]
 * Opens the folder once, runs every query RUNS times (default 15) after one
 * warm-up run, and prints the median, min and max wall time of each, with
 * the size of the answer so a wrong (empty) answer cannot pass as fast.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "query/engine.h"
#include "tsdb/tsdb.h"

/* jemalloc's settings, as the promlite binary has them (cli/main.c). */
const char *malloc_conf = "dirty_decay_ms:1000,muzzy_decay_ms:0";

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: query_latency DIR [RUNS]\n");
        return 2;
    }
    int runs = argc == 3 ? atoi(argv[2]) : 15;
    if (runs < 1 || runs > 1000) runs = 15;
    tsdb_options o = {.path = argv[1], .read_only = 1};
    tsdb *db;
    errbuf err;
    if (tsdb_open(&o, &db, &err)) {
        fprintf(stderr, "query_latency: %s\n", err.msg);
        return 1;
    }
    tsdb_reader *r;
    tsdb_stats st;
    if (tsdb_reader_open(db, &r, &err) || tsdb_stats_collect(r, &st, &err)) {
        fprintf(stderr, "query_latency: %s\n", err.msg);
        return 1;
    }
    tsdb_reader_close(r);
    int64_t end = st.max_time, start = end - 2 * 3600 * 1000;
    static const struct {
        const char *name, *q;
        int instant;
    } queries[] = {
        {"count by instance", "count(node_cpu_seconds_total{mode=\"system\"}) by (instance)", 1},
        {"CPU % (irate)", "sum(100 * (1 - irate(node_cpu_seconds_total{mode=\"idle\"}[5m]))) by (instance)", 1},
        {"memory %",
         "100 - (node_memory_MemFree_bytes + node_memory_Buffers_bytes + node_memory_Cached_bytes + "
         "node_memory_SReclaimable_bytes) * 100 / node_memory_MemTotal_bytes",
         1},
        {"sum by mode rate", "sum by (mode) (rate(node_cpu_seconds_total[5m]))", 0},
        {"histogram_quantile",
         "histogram_quantile(0.9, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))", 0},
    };
    printf("%-20s %-8s %10s %10s %10s %8s %8s\n", "query", "kind", "median ms", "min ms", "max ms", "series", "points");
    for (int range = 0; range < 2; range++) {
        for (size_t q = 0; q < sizeof queries / sizeof queries[0]; q++) {
            if (!range && !queries[q].instant) continue;
            double *ms = malloc((size_t)runs * sizeof *ms);
            size_t series = 0, points = 0;
            for (int i = -1; i < runs; i++) {
                pq_arena *a = pq_arena_new();
                pq_result res;
                double t0 = mono_seconds();
                int rc = range ? pq_query_range(db, NULL, a, queries[q].q, strlen(queries[q].q), start, end, 15000,
                                                &res, &err)
                               : pq_query_instant(db, NULL, a, queries[q].q, strlen(queries[q].q), end, &res, &err);
                double dt = (mono_seconds() - t0) * 1000;
                if (rc) {
                    fprintf(stderr, "query_latency: %s: %s\n", queries[q].q, err.msg);
                    return 1;
                }
                series = res.nseries;
                points = 0;
                for (size_t k = 0; k < res.nseries; k++) points += res.series[k].n;
                if (i >= 0) ms[i] = dt;
                pq_arena_free(a);
            }
            qsort(ms, (size_t)runs, sizeof *ms, cmp_double);
            printf("%-20s %-8s %10.2f %10.2f %10.2f %8zu %8zu\n", queries[q].name, range ? "range 2h" : "instant",
                   ms[runs / 2], ms[0], ms[runs - 1], series, points);
            free(ms);
        }
    }
    tsdb_close(db, &err);
    return 0;
}
