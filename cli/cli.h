/*
 * cli.h - the command-line front end: each subcommand is a function taking
 * its arguments (after the command words) and returning the exit code:
 * 0 success, 1 failure at run time, 2 bad usage (unknown flag, bad value).
 *
 * Threads: main thread only.
 */
#ifndef PROMLITE_CLI_H
#define PROMLITE_CLI_H

#include <stdint.h>

#include "cli/flags.h"
#include "tsdb/tsdb.h"

/* The storage flags every command that opens a data folder accepts. */
typedef struct storage_flags {
    const char *path;
    int64_t retention_ms;
    uint64_t retention_bytes;
} storage_flags;

#define STORAGE_FLAG_DEFS(sf)                                                                          \
    {"storage.tsdb.path", FLAG_STRING, &(sf).path, "data/", "Base path for metrics storage.", NULL, 0}, \
    {"storage.tsdb.retention.time", FLAG_DURATION, &(sf).retention_ms, "15d",                         \
     "How long to retain samples in storage, measured back from the newest sample.", NULL, 0},         \
    {"storage.tsdb.retention.size", FLAG_BYTES, &(sf).retention_bytes, "0",                           \
     "Maximum number of bytes that can be stored (units: B, KB, MB, GB, TB, PB, EB; 0 = no limit).",  \
     NULL, 0}

/* Opens the data folder named by the flags; prints the error and returns
 * NULL on failure. */
tsdb *cli_open_storage(const char *cmd, const storage_flags *sf, int read_only);
/* The same with a WAL sync interval (tsdb_options.wal_sync_interval_ms). */
tsdb *cli_open_storage_synced(const char *cmd, const storage_flags *sf, uint32_t wal_sync_interval_ms);
/* Closes it; prints an error and returns 1 when the final checkpoint failed. */
int cli_close_storage(const char *cmd, tsdb *db);

int cmd_import(int argc, char **argv);
int cmd_tsdb(int argc, char **argv);
int cmd_query(int argc, char **argv);
int cmd_promqltest(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_server(int argc, char **argv);

#endif
