/*
 * main.c - promlite's entry point: dispatches `promlite COMMAND ...` in the
 * style of git and cobra.  Every command answers --help; `promlite help
 * COMMAND` prints the same text.
 */
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>

#include "cli/cli.h"
#include "config.h"

#ifndef PROMLITE_REVISION
#define PROMLITE_REVISION "unknown"
#endif

static const struct {
    const char *name;
    const char *summary;
} commands[] = {
    {"server", "Run the monitoring server: storage and the HTTP API"},
    {"import", "Backfill samples from an OpenMetrics or text-format file"},
    {"tsdb", "Inspect the storage: tsdb stats, tsdb dump"},
    {"query", "Evaluate a PromQL expression against a data folder"},
    {"promqltest", "Run PromQL conformance test scripts"},
    {"check", "Check configuration files: check config"},
    {"version", "Print version and build information"},
    {"help", "Show help for a command"},
};

static void usage(FILE *out) {
    fprintf(out, "usage: promlite COMMAND [flags] [args]\n\n"
                 "promlite is a Prometheus-compatible monitoring server in one binary.\n\nCommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\nRun 'promlite help COMMAND' or 'promlite COMMAND --help' for details.\n");
}

static int cmd_version(int argc, char **argv) {
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: promlite version\n\nPrint version and build information.\n");
            return 0;
        }
        fprintf(stderr, "promlite version: unexpected argument \"%s\"\n", argv[i]);
        return 2;
    }
    struct utsname u;
    uname(&u);
    printf("promlite, version %s (revision: %s)\n", PACKAGE_VERSION, PROMLITE_REVISION);
    printf("  build date:       %s %s\n", __DATE__, __TIME__);
    printf("  compiler:         %s\n", __VERSION__);
    printf("  platform:         %s/%s\n", u.sysname, u.machine);
    return 0;
}

static int dispatch(const char *cmd, int argc, char **argv) {
    if (!strcmp(cmd, "server")) return cmd_server(argc, argv);
    if (!strcmp(cmd, "import")) return cmd_import(argc, argv);
    if (!strcmp(cmd, "tsdb")) return cmd_tsdb(argc, argv);
    if (!strcmp(cmd, "query")) return cmd_query(argc, argv);
    if (!strcmp(cmd, "promqltest")) return cmd_promqltest(argc, argv);
    if (!strcmp(cmd, "check")) return cmd_check(argc, argv);
    if (!strcmp(cmd, "version")) return cmd_version(argc, argv);
    if (!strcmp(cmd, "help")) {
        if (argc == 0) {
            usage(stdout);
            return 0;
        }
        char *help[] = {"--help", NULL};
        if (!strcmp(argv[0], "tsdb") && argc > 1) {
            char *sub[] = {argv[1], "--help", NULL};
            return cmd_tsdb(2, sub);
        }
        if (!strcmp(argv[0], "help")) {
            usage(stdout);
            return 0;
        }
        for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
            if (!strcmp(argv[0], commands[i].name)) return dispatch(argv[0], 1, help);
        fprintf(stderr, "promlite help: unknown command \"%s\"\n", argv[0]);
        return 2;
    }
    fprintf(stderr, "promlite: unknown command \"%s\"\n\n", cmd);
    usage(stderr);
    return 2;
}

/* jemalloc's settings (configure.ac says why promlite links jemalloc):
 * return freed pages to the system after one second rather than ten, so
 * that the head's memory is close to what it holds.  Not at once: a query
 * allocates and frees megabytes, and mapping them afresh every time made
 * instant queries twice as slow.  MALLOC_CONF in the environment still
 * overrides these. */
const char *malloc_conf = "dirty_decay_ms:1000,muzzy_decay_ms:0";

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) return cmd_version(0, NULL);
    return dispatch(argv[1], argc - 2, argv + 2);
}
