/*
 * cmd_import.c - `promlite import`: backfill a data folder from a file, as
 * `promtool tsdb create-blocks-from openmetrics` does for Prometheus.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "ingest/import.h"

static tsdb *open_storage(const char *cmd, const storage_flags *sf, int read_only, uint32_t sync_ms) {
    tsdb_options o = {.path = sf->path,
                      .retention_ms = sf->retention_ms,
                      .retention_bytes = sf->retention_bytes,
                      .read_only = read_only,
                      .wal_sync_interval_ms = sync_ms};
    tsdb *db;
    errbuf err;
    if (tsdb_open(&o, &db, &err)) {
        fprintf(stderr, "promlite %s: %s\n", cmd, err.msg);
        return NULL;
    }
    return db;
}

tsdb *cli_open_storage(const char *cmd, const storage_flags *sf, int read_only) {
    return open_storage(cmd, sf, read_only, 0);
}

tsdb *cli_open_storage_synced(const char *cmd, const storage_flags *sf, uint32_t wal_sync_interval_ms) {
    return open_storage(cmd, sf, 0, wal_sync_interval_ms);
}

int cli_close_storage(const char *cmd, tsdb *db) {
    errbuf err;
    if (tsdb_close(db, &err)) {
        fprintf(stderr, "promlite %s: %s\n", cmd, err.msg);
        return 1;
    }
    return 0;
}

int cmd_import(int argc, char **argv) {
    storage_flags sf;
    const char *format = NULL, *progress = NULL;
    int quiet = 0;
    flag_def flags[] = {
        STORAGE_FLAG_DEFS(sf),
        {"format", FLAG_CHOICE, &format, "auto",
         "Input format: openmetrics (timestamps in seconds, ends with # EOF), text (Prometheus text format, "
         "timestamps in milliseconds) or auto (a file ending in # EOF is OpenMetrics; a stream is OpenMetrics "
         "unless it starts with a promlite dump header).", "auto|openmetrics|text", 0},
        {"progress", FLAG_CHOICE, &progress, "auto",
         "Progress on stderr: bar, lines, none, or auto (a bar on a terminal, lines otherwise).", "auto|bar|lines|none",
         0},
        {"quiet", FLAG_BOOL, &quiet, NULL, "Print nothing but errors.", NULL, 0},
        {0},
    };
    command cmd = {"import", "FILE|-",
                   "Backfill samples from an OpenMetrics or Prometheus text-format file (- reads stdin).",
                   "Every sample needs a timestamp.  Samples older than a series' newest stored sample, and\n"
                   "second samples at the same timestamp with another value, are rejected and counted;\n"
                   "the import goes on.  A syntax error stops the import with FILE:LINE:COL; batches\n"
                   "committed before it stay stored.\n"
                   "Like promtool, import keeps old samples: retention is applied after the import only\n"
                   "when --storage.tsdb.retention.time or --storage.tsdb.retention.size is given.",
                   flags, 1, 1};
    char *pos[64];
    int npos;
    if (argc > 60) {
        fprintf(stderr, "promlite import: too many arguments\n");
        return 2;
    }
    int rc = flags_parse(&cmd, argc, argv, pos, &npos);
    if (rc) return rc == 1 ? 0 : 2;

    /* flags[1] and flags[2] are the retention flags of STORAGE_FLAG_DEFS. */
    if (!flags[1].seen) sf.retention_ms = 0;
    if (!flags[2].seen) sf.retention_bytes = 0;

    const char *file = pos[0];
    int fd = strcmp(file, "-") == 0 ? 0 : open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "promlite import: cannot open %s: %s\n", file, strerror(errno));
        return 1;
    }
    import_options io = {0};
    io.format = !strcmp(format, "openmetrics") ? IMPORT_FORMAT_OPENMETRICS
                : !strcmp(format, "text")      ? IMPORT_FORMAT_TEXT
                                               : IMPORT_FORMAT_AUTO;
    if (quiet || !strcmp(progress, "none")) io.progress = PROGRESS_NONE;
    else if (!strcmp(progress, "bar")) io.progress = PROGRESS_BAR;
    else if (!strcmp(progress, "lines")) io.progress = PROGRESS_LINES;
    else io.progress = isatty(2) ? PROGRESS_BAR : PROGRESS_LINES;

    tsdb *db = cli_open_storage("import", &sf, 0);
    if (!db) {
        if (fd) close(fd);
        return 1;
    }
    import_result res;
    errbuf err;
    const char *name = fd == 0 ? "<stdin>" : file;
    char dbfile[4200];
    snprintf(dbfile, sizeof dbfile, "%s/data.mdb", sf.path);
    struct stat st;
    off_t size_before = stat(dbfile, &st) == 0 ? st.st_size : 0;
    int failed = import_stream(db, fd, name, &io, &res, &err);
    if (fd) close(fd);
    if (failed) fprintf(stderr, "promlite import: %s\n", err.msg);
    long deleted = tsdb_apply_retention(db, &err);
    if (deleted < 0) {
        fprintf(stderr, "promlite import: applying retention: %s\n", err.msg);
        failed = 1;
    }
    /* A bulk write leaves B-tree pages half full: when this import wrote at
     * least a quarter of the file, pack it (a copy of the whole file). */
    int64_t reclaimed = 0;
    off_t size_after = stat(dbfile, &st) == 0 ? st.st_size : 0;
    if (!failed && res.appended.appended > 0 && size_after >= size_before + size_before / 3 &&
        (reclaimed = tsdb_compact(db, &err)) < 0) {
        fprintf(stderr, "promlite import: %s\n", err.msg);
        failed = 1;
    }
    if (cli_close_storage("import", db)) failed = 1;
    if (!quiet) {
        const tsdb_append_stats *a = &res.appended;
        printf("%s %s (%s): %llu series, %llu samples imported in %.2f s (%.0f samples/s, %.2f CPU s)\n",
               failed ? "partially imported" : "imported", name,
               res.format == IMPORT_FORMAT_OPENMETRICS ? "openmetrics" : "text", (unsigned long long)res.series_seen,
               (unsigned long long)a->appended, res.seconds, res.seconds > 0 ? (double)a->appended / res.seconds : 0,
               res.cpu_seconds);
        printf("new series: %llu\n", (unsigned long long)a->new_series);
        printf("rejected samples: %llu out of order, %llu duplicate timestamp, %llu without timestamp, "
               "%llu invalid series\n",
               (unsigned long long)a->out_of_order, (unsigned long long)a->duplicate,
               (unsigned long long)res.no_timestamp, (unsigned long long)res.invalid_series);
        if (a->identical) printf("identical samples skipped: %llu\n", (unsigned long long)a->identical);
        if (deleted > 0) printf("retention: %ld chunks deleted\n", deleted);
        if (reclaimed > 0) printf("compacted: data file %lld bytes smaller\n", (long long)reclaimed);
    }
    return failed ? 1 : 0;
}
