/*
 * flags.c - see flags.h.  Hand-written: getopt_long has no typed values,
 * dotted names with --no- negation, or per-command help in this layout.
 */
#include "cli/flags.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/timeutil.h"

static int set_value(const command *cmd, flag_def *f, const char *v) {
    switch (f->type) {
    case FLAG_STRING:
        *(const char **)f->target = v;
        return 0;
    case FLAG_BOOL:
        if (!strcmp(v, "true") || !strcmp(v, "1")) *(int *)f->target = 1;
        else if (!strcmp(v, "false") || !strcmp(v, "0")) *(int *)f->target = 0;
        else break;
        return 0;
    case FLAG_DURATION:
        if (parse_duration(v, (int64_t *)f->target) == 0) return 0;
        fprintf(stderr, "promlite %s: invalid duration \"%s\" for --%s (examples: 15d, 12h, 90m, 1h30m)\n",
                cmd->name, v, f->name);
        return 2;
    case FLAG_BYTES:
        if (parse_bytes(v, (uint64_t *)f->target) == 0) return 0;
        fprintf(stderr, "promlite %s: invalid size \"%s\" for --%s (examples: 512MB, 10GB, 1TB)\n", cmd->name, v,
                f->name);
        return 2;
    case FLAG_TIME:
        if (parse_time(v, (int64_t *)f->target) == 0) return 0;
        fprintf(stderr, "promlite %s: invalid time \"%s\" for --%s (RFC 3339 or Unix seconds)\n", cmd->name, v,
                f->name);
        return 2;
    case FLAG_CHOICE: {
        size_t n = strlen(v);
        for (const char *c = f->choices; c && *c;) {
            const char *bar = strchr(c, '|');
            size_t len = bar ? (size_t)(bar - c) : strlen(c);
            if (len == n && !strncmp(c, v, n)) {
                *(const char **)f->target = v;
                return 0;
            }
            c = bar ? bar + 1 : c + len;
        }
        fprintf(stderr, "promlite %s: invalid value \"%s\" for --%s (one of: %s)\n", cmd->name, v, f->name,
                f->choices);
        return 2;
    }
    }
    fprintf(stderr, "promlite %s: invalid value \"%s\" for --%s\n", cmd->name, v, f->name);
    return 2;
}

static flag_def *find_flag(command *cmd, const char *name, size_t len) {
    for (flag_def *f = cmd->flags; f && f->name; f++)
        if (strlen(f->name) == len && !strncmp(f->name, name, len)) return f;
    return NULL;
}

int flags_parse(command *cmd, int argc, char **argv, char **pos, int *npos) {
    *npos = 0;
    for (flag_def *f = cmd->flags; f && f->name; f++) {
        f->seen = 0;
        if (f->def && set_value(cmd, f, f->def)) return 2;
    }
    int only_args = 0;
    for (int i = 0; i < argc; i++) {
        char *a = argv[i];
        if (only_args || a[0] != '-' || !strcmp(a, "-")) {
            pos[(*npos)++] = a;
            continue;
        }
        if (!strcmp(a, "--")) {
            only_args = 1;
            continue;
        }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            flags_help(cmd);
            return 1;
        }
        if (a[1] != '-') {
            fprintf(stderr, "promlite %s: unknown flag %s (flags are long: --name=value; see --help)\n", cmd->name, a);
            return 2;
        }
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        flag_def *f = find_flag(cmd, name, len);
        int negated = 0;
        if (!f && len > 3 && !strncmp(name, "no-", 3)) {
            f = find_flag(cmd, name + 3, len - 3);
            if (f && f->type == FLAG_BOOL) negated = 1;
            else f = NULL;
        }
        if (!f) {
            fprintf(stderr, "promlite %s: unknown flag --%.*s (see promlite %s --help)\n", cmd->name, (int)len, name,
                    cmd->name);
            return 2;
        }
        f->seen = 1;
        if (f->type == FLAG_BOOL && !eq) {
            *(int *)f->target = !negated;
            continue;
        }
        const char *v;
        if (eq) v = eq + 1;
        else if (i + 1 < argc) v = argv[++i];
        else {
            fprintf(stderr, "promlite %s: flag --%s needs a value\n", cmd->name, f->name);
            return 2;
        }
        int rc = set_value(cmd, f, v);
        if (rc) return rc;
    }
    if (*npos < cmd->min_args || *npos > cmd->max_args) {
        if (*npos < cmd->min_args)
            fprintf(stderr, "promlite %s: missing argument %s\n", cmd->name, cmd->args ? cmd->args : "");
        else
            fprintf(stderr, "promlite %s: unexpected argument \"%s\"\n", cmd->name, pos[cmd->max_args]);
        fprintf(stderr, "usage: promlite %s [flags]%s%s\n", cmd->name, cmd->args ? " " : "", cmd->args ? cmd->args : "");
        return 2;
    }
    return 0;
}

void flags_help(const command *cmd) {
    printf("usage: promlite %s [flags]%s%s\n\n%s\n", cmd->name, cmd->args ? " " : "", cmd->args ? cmd->args : "",
           cmd->summary);
    if (cmd->description) printf("\n%s\n", cmd->description);
    printf("\nFlags:\n  -h, --help  show this help\n");
    for (const flag_def *f = cmd->flags; f && f->name; f++) {
        const char *kind = f->type == FLAG_BOOL ? "" : f->type == FLAG_DURATION ? "=DURATION"
                           : f->type == FLAG_BYTES ? "=SIZE" : f->type == FLAG_TIME ? "=TIME" : "=VALUE";
        printf("  --%s%s\n      %s", f->name, kind, f->help);
        if (f->def) printf(" (default: %s)", f->def);
        printf("\n");
    }
}
