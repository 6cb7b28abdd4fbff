/*
 * cmd_check.c - `promlite check config FILE...`: validates configuration
 * files as `promtool check config` does, with the same output:
 *
 *     Checking FILE
 *       SUCCESS: N rule files found
 *      SUCCESS: FILE is valid prometheus config file syntax
 *
 * or "  FAILED: reason" on stderr, and exit 1 when any file failed.
 *
 * The file is loaded by ingest/config.c exactly as the server will load it.
 * Beyond that, like promtool (unless --syntax-only), the files the
 * configuration names are checked: rule_files patterns are expanded, a
 * pattern without "*" must name an existing file, and each rule file is
 * then checked as `check rules` checks it; the credentials files of `authorization`/`bearer_token_file` and TLS client
 * certificates and keys must exist; a file_sd pattern that matches nothing
 * gets a warning.
 */
#include <errno.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "alert/amconfig.h"
#include "alert/rules.h"
#include "cli/cli.h"
#include "web/webconfig.h"
#include "ingest/config.h"

/* Whether a glob pattern is well formed as Go's filepath.Match sees it:
 * every "[" has its "]" (glibc would take a lone "[" literally, Go refuses
 * the pattern). */
static int glob_syntax_ok(const char *p) {
    for (; *p; p++) {
        if (*p == '\\' && p[1]) {
            p++;
        } else if (*p == '[') {
            const char *q = p + 1;
            if (*q == '^' || *q == '!') q++;
            if (*q == ']') q++;
            while (*q && *q != ']') q += (*q == '\\' && q[1]) ? 2 : 1;
            if (!*q) return 0;
            p = q;
        }
    }
    return 1;
}

/* Expands the rule_files patterns, as promtool's checkConfig: counts the
 * matches; a pattern without "*" must match an existing file.  Returns 0,
 * or -1 with the reason in err. */
static int count_rule_files(const promlite_config *cfg, size_t *count, char ***files, errbuf *err) {
    *count = 0;
    for (size_t i = 0; i < cfg->nrule_files; i++) {
        const char *pattern = cfg->rule_files[i];
        if (!glob_syntax_ok(pattern))
            return errf(err, "%s:%d: rule file pattern \"%s\": syntax error in pattern", cfg->name,
                        cfg->rule_file_lines[i], pattern);
        glob_t g;
        int rc = glob(pattern, 0, NULL, &g);
        if (rc != 0 && rc != GLOB_NOMATCH) {
            if (rc != GLOB_ABORTED && rc != GLOB_NOSPACE) globfree(&g);
            return errf(err, "%s:%d: cannot expand rule file pattern \"%s\"", cfg->name, cfg->rule_file_lines[i],
                        pattern);
        }
        size_t matches = rc == 0 ? g.gl_pathc : 0;
        *files = xrealloc(*files, (*count + matches + 1) * sizeof **files);
        for (size_t j = 0; j < matches; j++) (*files)[*count + j] = xstrndup(g.gl_pathv[j], strlen(g.gl_pathv[j]));
        if (rc == 0) globfree(&g);
        if (!strchr(pattern, '*') && matches == 0)
            return errf(err, "%s:%d: \"%s\" does not point to an existing file", cfg->name, cfg->rule_file_lines[i],
                        pattern);
        *count += matches;
    }
    return 0;
}

/* stat()s a named file; a missing one fails with promtool's wording. */
static int check_exists(const char *what, const char *file, const config_scrape *sc, const promlite_config *cfg,
                        errbuf *err) {
    struct stat st;
    if (!file || !*file || stat(file, &st) == 0) return 0;
    return errf(err, "%s:%d: error checking %s \"%s\": stat %s: %s", cfg->name, sc->line, what, file, file,
                strerror(errno));
}

/* The per-scrape-config file checks of promtool's checkConfig. */
static int check_scrape_files(const promlite_config *cfg, errbuf *err) {
    for (size_t i = 0; i < cfg->nscrape; i++) {
        const config_scrape *sc = &cfg->scrape_configs[i];
        if (sc->authorization &&
            check_exists("authorization credentials or bearer token file", sc->authorization->credentials_file, sc,
                         cfg, err))
            return -1;
        if (check_exists("client cert file", sc->tls.cert_file, sc, cfg, err) ||
            check_exists("client key file", sc->tls.key_file, sc, cfg, err))
            return -1;
        for (size_t f = 0; f < sc->nfile_sd; f++)
            for (size_t p = 0; p < sc->file_sd_configs[f].nfiles; p++) {
                const char *pattern = sc->file_sd_configs[f].files[p];
                glob_t g;
                int rc = glob(pattern, 0, NULL, &g);
                if (rc == 0) globfree(&g);
                else
                    printf("  WARNING: file \"%s\" for file_sd in scrape job \"%s\" does not exist\n", pattern,
                           sc->job_name);
            }
    }
    return 0;
}

/* Checks one rule file as the server will load it, printing promtool's
 * lines: "  SUCCESS: N rules found", or "  FAILED:" and every problem, one
 * per line after `indent`, on stderr.  Returns 0 when it is valid. */
static int check_rule_file(const char *path, const char *indent) {
    printf("Checking %s\n", path);
    rule_set *rs = rule_set_new();
    rule_errors errs = {0};
    int rc = rule_set_add_file(rs, path, &errs);
    if (rc) {
        fflush(stdout);
        fprintf(stderr, "  FAILED:\n");
        for (size_t i = 0; i < errs.n; i++) fprintf(stderr, "%s%s\n", indent, errs.msgs[i]);
        fflush(stderr);
        printf("\n");
    } else {
        printf("  SUCCESS: %zu rules found\n\n", rule_set_count(rs));
    }
    rule_errors_free(&errs);
    rule_set_free(rs);
    return rc ? 1 : 0;
}

/* Checks one file; prints promtool's lines.  Returns 0 when it is valid. */
static int check_one(const char *path, int syntax_only) {
    printf("Checking %s\n", path);
    promlite_config *cfg;
    errbuf err;
    size_t nrules = 0;
    char **rule_files = NULL;
    int rc = config_load(path, &cfg, &err);
    if (rc == 0) {
        /* The alerting section (routes, receivers, ...) as the server reads it. */
        am_config *alerting = NULL;
        rc = amconfig_decode(cfg->alerting, cfg->name, cfg->dir, &alerting, &err);
        amconfig_free(alerting);
    }
    if (rc == 0 && !syntax_only) {
        rc = count_rule_files(cfg, &nrules, &rule_files, &err);
        if (rc == 0) rc = check_scrape_files(cfg, &err);
    }
    if (rc) {
        fflush(stdout);
        fprintf(stderr, "  FAILED: %s\n", err.msg);
        printf("\n");
    } else {
        if (nrules > 0) printf("  SUCCESS: %zu rule files found\n", nrules);
        printf(" SUCCESS: %s is valid prometheus config file syntax\n\n", path);
        for (size_t i = 0; i < nrules; i++) rc |= check_rule_file(rule_files[i], "     ");
    }
    for (size_t i = 0; i < nrules; i++) free(rule_files[i]);
    free(rule_files);
    config_free(cfg);
    return rc ? 1 : 0;
}

static int check_config_cmd(int argc, char **argv) {
    int syntax_only = 0;
    flag_def flags[] = {
        {"syntax-only", FLAG_BOOL, &syntax_only, NULL,
         "Only check the config file syntax, ignoring file and content validation referenced in the config.", NULL,
         0},
        {0},
    };
    command cmd = {"check config", "CONFIG-FILE...", "Check if the config files are valid or not.",
                   "Loads each file as `promlite server` will (the prometheus.yml subset described in\n"
                   "docs/configuration.md) and reports the first problem as FILE:LINE:COL: reason.\n"
                   "Unless --syntax-only is given, the files it names must exist: rule_files (a pattern\n"
                   "without * must match a file; each rule file is checked as `check rules` does), credentials\n"
                   "files and TLS client certificates; a file_sd pattern that matches nothing is a warning.\n"
                   "Exits 0 when every file is valid, 1 otherwise.",
                   flags, 1, 4096};
    char *pos[4100];
    int npos;
    if (argc > 4096) {
        fprintf(stderr, "promlite check config: too many arguments\n");
        return 2;
    }
    int rc = flags_parse(&cmd, argc, argv, pos, &npos);
    if (rc) return rc == 1 ? 0 : 2;
    int failed = 0;
    for (int i = 0; i < npos; i++) failed |= check_one(pos[i], syntax_only);
    if (fflush(stdout) != 0) failed = 1;
    return failed;
}

/* Runs one file checker over every FILE argument of a command without
 * flags of its own; returns the exit status (2 for bad usage). */
static int for_each_file(const char *name, const char *usage, const char *summary, const char *help,
                         int (*check)(const char *path), int argc, char **argv) {
    flag_def flags[] = {{0}};
    command cmd = {name, usage, summary, help, flags, 1, 4096};
    if (argc > 4096) {
        fprintf(stderr, "promlite %s: too many arguments\n", name);
        return 2;
    }
    char *pos[4100];
    int npos;
    int rc = flags_parse(&cmd, argc, argv, pos, &npos);
    if (rc) return rc == 1 ? 0 : 2;
    int failed = 0;
    for (int i = 0; i < npos; i++) failed |= check(pos[i]);
    if (fflush(stdout) != 0) failed = 1;
    return failed;
}

/* One web config file, as `promtool check web-config` prints it. */
static int check_web_config_file(const char *path) {
    web_security *sec;
    errbuf err;
    if (webconfig_load(path, &sec, &err)) {
        fprintf(stderr, "%s FAILED: %s\n", path, err.msg);
        return 1;
    }
    printf("%s SUCCESS\n", path);
    webconfig_free(sec);
    return 0;
}

/* `check web-config FILE...`, as `promtool check web-config`: each file
 * loaded as `server --web.config.file` would load it (certificates and
 * keys are checked when the server starts). */
static int check_web_config_cmd(int argc, char **argv) {
    return for_each_file("check web-config", "WEB-CONFIG-FILE...", "Check if the web config files are valid or not.",
                         "Loads each file as `promlite server --web.config.file` will (docs/security.md) and reports\n"
                         "the first problem as FILE:LINE:COL: reason.  Exits 0 when every file is valid, 1 otherwise.",
                         check_web_config_file, argc, argv);
}

/* `check rules FILE...`, as `promtool check rules`: every problem of each
 * file, as FILE:LINE:COL: group "g", rule N, "name": reason. */
static int check_rule_file_alone(const char *path) { return check_rule_file(path, ""); }

static int check_rules_cmd(int argc, char **argv) {
    return for_each_file("check rules", "RULE-FILE...", "Check if the rule files are valid or not.",
                         "Loads each file as the server loads rule_files (Prometheus's rule file format, see\n"
                         "docs/alerting.md) and lists every problem as FILE:LINE:COL: group \"G\", rule N, \"NAME\": "
                         "reason:\nYAML, unknown keys, expressions that do not parse, invalid names and labels, "
                         "templates\nthat do not parse.  Exits 0 when every file is valid, 1 otherwise.",
                         check_rule_file_alone, argc, argv);
}

int cmd_check(int argc, char **argv) {
    if (argc >= 1 && !strcmp(argv[0], "rules")) return check_rules_cmd(argc - 1, argv + 1);
    if (argc >= 1 && !strcmp(argv[0], "config")) return check_config_cmd(argc - 1, argv + 1);
    if (argc >= 1 && !strcmp(argv[0], "web-config")) return check_web_config_cmd(argc - 1, argv + 1);
    FILE *out = argc >= 1 && (!strcmp(argv[0], "--help") || !strcmp(argv[0], "-h")) ? stdout : stderr;
    if (argc >= 1 && out == stderr) fprintf(stderr, "promlite check: unknown subcommand \"%s\"\n\n", argv[0]);
    fprintf(out, "usage: promlite check SUBCOMMAND [flags]\n\nSubcommands:\n"
                 "  config       Check if the config files are valid or not\n"
                 "  rules        Check if the rule files are valid or not\n"
                 "  web-config   Check if the web config files are valid or not\n"
                 "\nRun 'promlite check SUBCOMMAND --help' for details.\n");
    return out == stdout ? 0 : 2;
}
