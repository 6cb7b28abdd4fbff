/*
 * cmd_tsdb.c - `promlite tsdb stats` and `promlite tsdb dump`.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/timeutil.h"
#include "ingest/import.h"

/* ------------------------------------------------------------ stats */

static void print_time(const char *what, int64_t ms) {
    char t[64];
    format_time(ms, t, sizeof t);
    printf("%-22s %s (%lld)\n", what, t, (long long)ms);
}

static int tsdb_stats_cmd(int argc, char **argv) {
    storage_flags sf;
    flag_def flags[] = {STORAGE_FLAG_DEFS(sf), {0}};
    command cmd = {"tsdb stats", NULL,
                   "Print storage statistics: series, samples, chunks, bytes on disk, bytes per sample, time range,\n"
                   "and the metric names and label names with the most series and values.",
                   NULL, flags, 0, 0};
    char *pos[8];
    int npos;
    if (argc > 6) argc = 6;
    int rc = flags_parse(&cmd, argc, argv, pos, &npos);
    if (rc) return rc == 1 ? 0 : 2;
    tsdb *db = cli_open_storage("tsdb stats", &sf, 1);
    if (!db) return 1;
    tsdb_reader *r;
    errbuf err;
    tsdb_stats st;
    if (tsdb_reader_open(db, &r, &err) || tsdb_stats_collect(r, &st, &err)) {
        fprintf(stderr, "promlite tsdb stats: %s\n", err.msg);
        cli_close_storage("tsdb stats", db);
        return 1;
    }
    char h[32];
    printf("%-22s %s\n", "Data folder:", sf.path);
    printf("%-22s %llu\n", "Series:", (unsigned long long)st.series);
    printf("%-22s %llu\n", "Samples:", (unsigned long long)st.samples);
    printf("%-22s %llu\n", "Chunks:", (unsigned long long)st.chunks);
    printf("%-22s %llu (%llu samples)\n", "Head series:", (unsigned long long)st.head_series,
           (unsigned long long)st.head_samples);
    printf("%-22s %llu (%s)\n", "Bytes on disk:", (unsigned long long)st.disk_bytes,
           human_bytes((double)st.disk_bytes, h, sizeof h));
    printf("%-22s %llu (%s)\n", "Bytes in use:", (unsigned long long)st.used_bytes,
           human_bytes((double)st.used_bytes, h, sizeof h));
    printf("%-22s %llu\n", "Chunk bytes:", (unsigned long long)st.chunk_bytes);
    printf("%-22s %llu\n", "WAL bytes:", (unsigned long long)st.wal_bytes);
    if (st.samples) {
        printf("%-22s %.3f\n", "Bytes per sample:", (double)st.disk_bytes / (double)st.samples);
        printf("%-22s %.3f\n", "Chunk bytes/sample:", (double)st.chunk_bytes / (double)st.samples);
        print_time("Min time:", st.min_time);
        print_time("Max time:", st.max_time);
    }
    printf("\nTop %zu metric names by series:\n", st.n_top_metrics);
    for (size_t i = 0; i < st.n_top_metrics; i++)
        printf("  %10llu  %s\n", (unsigned long long)st.top_metrics[i].count, st.top_metrics[i].name);
    printf("\nTop %zu label names by number of values:\n", st.n_top_label_values);
    for (size_t i = 0; i < st.n_top_label_values; i++)
        printf("  %10llu  %s\n", (unsigned long long)st.top_label_values[i].count, st.top_label_values[i].name);
    printf("\nTop %zu label pairs by series:\n", st.n_top_label_pairs);
    for (size_t i = 0; i < st.n_top_label_pairs; i++)
        printf("  %10llu  %s\n", (unsigned long long)st.top_label_pairs[i].count, st.top_label_pairs[i].name);
    tsdb_reader_close(r);
    return cli_close_storage("tsdb stats", db);
}

/* ------------------------------------------------------------ dump */

/* promtool's --min-time/--max-time are milliseconds; RFC 3339 is accepted
 * too. */
static int parse_dump_time(const char *s, int64_t *ms) {
    const char *p = s + (*s == '-');
    int digits = *p != 0;
    for (; *p; p++)
        if (!isdigit((unsigned char)*p)) digits = 0;
    if (digits) {
        *ms = strtoll(s, NULL, 10);
        return 0;
    }
    return parse_time(s, ms);
}

#define DUMP_SERIES_PER_READER 512

static int tsdb_dump_cmd(int argc, char **argv) {
    storage_flags sf;
    const char *match = NULL, *min_s = NULL, *max_s = NULL;
    flag_def flags[] = {
        STORAGE_FLAG_DEFS(sf),
        {"match", FLAG_STRING, &match, NULL, "Series selector, e.g. 'up{job=\"node\"}' (default: every series).",
         NULL, 0},
        {"min-time", FLAG_STRING, &min_s, NULL, "Minimum timestamp to dump: milliseconds or RFC 3339.", NULL, 0},
        {"max-time", FLAG_STRING, &max_s, NULL, "Maximum timestamp to dump: milliseconds or RFC 3339.", NULL, 0},
        {0},
    };
    command cmd = {"tsdb dump", NULL,
                   "Print every matching sample, one per line, in the Prometheus text format with millisecond\n"
                   "timestamps; `promlite import` reads the output back bit-exact (NaN payloads such as the\n"
                   "staleness marker are written as NaN:0x<bits>).",
                   NULL, flags, 0, 0};
    char *pos[16];
    int npos;
    if (argc > 14) argc = 14;
    int rc = flags_parse(&cmd, argc, argv, pos, &npos);
    if (rc) return rc == 1 ? 0 : 2;
    int64_t mint = INT64_MIN, maxt = INT64_MAX;
    if (min_s && parse_dump_time(min_s, &mint)) {
        fprintf(stderr, "promlite tsdb dump: invalid --min-time \"%s\"\n", min_s);
        return 2;
    }
    if (max_s && parse_dump_time(max_s, &maxt)) {
        fprintf(stderr, "promlite tsdb dump: invalid --max-time \"%s\"\n", max_s);
        return 2;
    }
    matcher *ms = NULL;
    size_t nms = 0;
    errbuf err;
    if (match && selector_parse(match, &ms, &nms, &err)) {
        fprintf(stderr, "promlite tsdb dump: invalid --match \"%s\": %s\n", match, err.msg);
        return 2;
    }
    tsdb *db = cli_open_storage("tsdb dump", &sf, 1);
    if (!db) {
        matchers_free(ms, nms);
        return 1;
    }
    /* One reader lists the series; each block of series is then read with a
     * fresh reader so that no reader stays open, or holds memory, for the
     * whole dump. */
    tsdb_reader *r;
    const tsdb_series *series;
    size_t nseries;
    int failed = 0;
    if (tsdb_reader_open(db, &r, &err) || tsdb_select(r, ms, nms, mint, maxt, &series, &nseries, &err)) {
        fprintf(stderr, "promlite tsdb dump: %s\n", err.msg);
        matchers_free(ms, nms);
        cli_close_storage("tsdb dump", db);
        return 1;
    }
    tsdb_ref *refs = xmalloc((nseries ? nseries : 1) * sizeof *refs);
    char **names = xmalloc((nseries ? nseries : 1) * sizeof *names);
    buf b = {0};
    for (size_t i = 0; i < nseries; i++) {
        refs[i] = series[i].ref;
        buf_reset(&b);
        labels_format(&b, series[i].labels, series[i].nlabels);
        names[i] = xstrndup((char *)b.data, b.len);
    }
    tsdb_reader_close(r);
    static char outbuf[1 << 16];
    setvbuf(stdout, outbuf, _IOFBF, sizeof outbuf);
    printf("# promlite tsdb dump: Prometheus text format, timestamps in milliseconds\n");
    char val[48];
    for (size_t i = 0; i < nseries && !failed; i += DUMP_SERIES_PER_READER) {
        if (tsdb_reader_open(db, &r, &err)) {
            failed = 1;
            break;
        }
        for (size_t j = i; j < nseries && j < i + DUMP_SERIES_PER_READER; j++) {
            tsdb_samples s;
            if (tsdb_read(r, refs[j], mint, maxt, &s, &err)) {
                failed = 1;
                break;
            }
            for (size_t k = 0; k < s.n; k++) {
                format_value(s.v[k], val, sizeof val);
                printf("%s %s %lld\n", names[j], val, (long long)s.t[k]);
            }
        }
        tsdb_reader_close(r);
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "promlite tsdb dump: writing the output failed\n");
        failed = 1;
    } else if (failed) {
        fprintf(stderr, "promlite tsdb dump: %s\n", err.msg);
    }
    for (size_t i = 0; i < nseries; i++) free(names[i]);
    free(names);
    free(refs);
    buf_free(&b);
    matchers_free(ms, nms);
    if (cli_close_storage("tsdb dump", db)) failed = 1;
    return failed;
}

int cmd_tsdb(int argc, char **argv) {
    if (argc >= 1 && !strcmp(argv[0], "stats")) return tsdb_stats_cmd(argc - 1, argv + 1);
    if (argc >= 1 && !strcmp(argv[0], "dump")) return tsdb_dump_cmd(argc - 1, argv + 1);
    FILE *out = argc >= 1 && (!strcmp(argv[0], "--help") || !strcmp(argv[0], "-h")) ? stdout : stderr;
    if (argc >= 1 && out == stderr) fprintf(stderr, "promlite tsdb: unknown subcommand \"%s\"\n\n", argv[0]);
    fprintf(out, "usage: promlite tsdb SUBCOMMAND [flags]\n\nSubcommands:\n"
                 "  stats   Print storage statistics\n"
                 "  dump    Print samples in a format `promlite import` reads back\n"
                 "\nRun 'promlite tsdb SUBCOMMAND --help' for details.\n");
    return out == stdout ? 0 : 2;
}
