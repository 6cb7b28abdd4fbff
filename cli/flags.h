/*
 * flags.h - command-line flags in Prometheus's style: long flags with dotted
 * names, `--name=value` or `--name value`, booleans as `--name` or
 * `--no-name`, `--help`/`-h` on every command.  Values are parsed and
 * validated here (durations, sizes, times), so a command sees typed values.
 *
 * Errors are printed as "promlite COMMAND: ..." and the caller exits with 2.
 * Threads: main thread only (it parses argv once).
 */
#ifndef PROMLITE_FLAGS_H
#define PROMLITE_FLAGS_H

#include <stdint.h>

typedef enum { FLAG_STRING, FLAG_BOOL, FLAG_DURATION, FLAG_BYTES, FLAG_TIME, FLAG_CHOICE } flag_type;

typedef struct flag_def {
    const char *name;       /* without the leading "--" */
    flag_type type;
    void *target;           /* const char **, int *, int64_t * (ms), uint64_t * */
    const char *def;        /* default as text, shown in help; NULL for none */
    const char *help;
    const char *choices;    /* FLAG_CHOICE: "a|b|c"; target is const char ** */
    int seen;
} flag_def;

typedef struct command {
    const char *name;       /* "import", "tsdb stats" */
    const char *args;       /* positional arguments for usage: "FILE|-" */
    const char *summary;
    const char *description;
    flag_def *flags;        /* terminated by a zero entry */
    int min_args, max_args;
} command;

/* Sets defaults, parses argv[0..argc) (flags anywhere, "--" ends them), and
 * collects positional arguments into pos (argc entries available).
 * Returns 0; 1 when --help was given (help printed); 2 on an error (message
 * printed). */
int flags_parse(command *cmd, int argc, char **argv, char **pos, int *npos);

/* Prints the command's help to stdout. */
void flags_help(const command *cmd);

#endif
