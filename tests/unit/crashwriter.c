/*
 * crashwriter.c - helper of the SIGKILL test (tests/e2e/crash.sh).
 *
 * usage: crashwriter DIR SERIES [CHECKPOINT_BYTES [WAL_SYNC_INTERVAL_MS]]
 * Appends batch after batch (batch b: every series gets t = b*1000, v = b)
 * and prints "ack b" on stdout once batch b is committed.  The test kills it
 * with SIGKILL at a random moment and checks that every acknowledged batch
 * is in the database.  Large and small batches alternate so that both
 * durability paths (WAL record, direct chunk write) are exercised; a small
 * CHECKPOINT_BYTES makes checkpoints frequent, so that kills also land in
 * the middle of one; a WAL sync interval (the server's mode) must keep
 * every acknowledged batch through a kill all the same.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tsdb/tsdb.h"

int main(int argc, char **argv) {
    if (argc < 3 || argc > 5) {
        fprintf(stderr, "usage: crashwriter DIR SERIES [CHECKPOINT_BYTES [WAL_SYNC_INTERVAL_MS]]\n");
        return 2;
    }
    int nseries = atoi(argv[2]);
    tsdb_options o = {.path = argv[1],
                      .checkpoint_wal_bytes = argc >= 4 ? strtoull(argv[3], NULL, 10) : 0,
                      .wal_sync_interval_ms = argc == 5 ? (uint32_t)strtoul(argv[4], NULL, 10) : 0};
    tsdb *db;
    errbuf err;
    if (tsdb_open(&o, &db, &err)) {
        fprintf(stderr, "crashwriter: %s\n", err.msg);
        return 1;
    }
    tsdb_appender *a = tsdb_appender_new(db);
    tsdb_ref *refs = calloc((size_t)nseries, sizeof *refs);
    for (int s = 0; s < nseries; s++) {
        char v[16];
        snprintf(v, sizeof v, "%d", s);
        label l[] = {{"__name__", 8, "crash_test", 10}, {"series", 6, v, (uint32_t)strlen(v)}};
        if (tsdb_appender_ref(a, l, 2, &refs[s], &err)) return 1;
    }
    long b = 0;
    for (long commit = 0;; commit++) {
        /* Every 50th commit carries 20 timestamps per series: direct mode. */
        int per = commit % 50 == 49 ? 20 : 1;
        for (int k = 0; k < per; k++, b++)
            for (int s = 0; s < nseries; s++) tsdb_appender_add(a, refs[s], b * 1000, (double)b);
        if (tsdb_appender_commit(a, NULL, &err)) {
            fprintf(stderr, "crashwriter: %s\n", err.msg);
            return 1;
        }
        printf("ack %ld\n", b - 1); /* every batch up to b-1 is durable */
        fflush(stdout);
    }
}
