/*
 * cmd_query.c - `promlite query` (evaluate PromQL against a data folder)
 * and `promlite promqltest` (run PromQL conformance scripts).
 *
 * `query --format json` prints exactly what /api/v1/query and
 * /api/v1/query_range put in "data" (web/json.h writes both).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "query/engine.h"
#include "query/parser.h"
#include "query/promqltest.h"
#include "web/json.h"

static void result_text(buf *b, const pq_result *r) {
    char f[FLOAT_TEXT_MAX];
    if (r->type == PQ_TYPE_SCALAR) {
        buf_printf(b, "scalar: %s\n", format_float(r->scalar, f));
        return;
    }
    if (r->type == PQ_TYPE_STRING) {
        buf_printf(b, "string: %s\n", r->str);
        return;
    }
    for (size_t k = 0; k < r->nseries; k++) {
        const pq_series *s = &r->series[k];
        labels_format(b, s->labels, s->nlabels);
        if (!s->nlabels) buf_append(b, "{}", 2);
        if (r->type == PQ_TYPE_VECTOR) {
            buf_printf(b, " => %s @[", format_float(s->v[0], f));
            jw_time(b, s->t[0]);
            buf_append(b, "]\n", 2);
            continue;
        }
        buf_append(b, " =>\n", 4);
        for (size_t i = 0; i < s->n; i++) {
            buf_printf(b, "%s @[", format_float(s->v[i], f));
            jw_time(b, s->t[i]);
            buf_append(b, "]\n", 2);
        }
    }
}

int cmd_query(int argc, char **argv) {
    storage_flags sf;
    int64_t at = 0, start = 0, end = 0, step = 0, lookback = 0;
    const char *format = NULL;
    int explain = 0, pretty = 0;
    flag_def flags[] = {
        STORAGE_FLAG_DEFS(sf),
        {"time", FLAG_TIME, &at, NULL, "Evaluation time of an instant query (RFC 3339 or Unix seconds; default now).",
         NULL, 0},
        {"start", FLAG_TIME, &start, NULL, "Start of a range query.", NULL, 0},
        {"end", FLAG_TIME, &end, NULL, "End of a range query.", NULL, 0},
        {"step", FLAG_DURATION, &step, NULL, "Step of a range query (e.g. 15s, 1m).", NULL, 0},
        {"query.lookback-delta", FLAG_DURATION, &lookback, "5m",
         "How far back an instant selector looks for a sample.", NULL, 0},
        {"format", FLAG_CHOICE, &format, "text", "Output: text, or json (the \"data\" of /api/v1/query).", "text|json",
         0},
        {"explain", FLAG_BOOL, &explain, NULL, "Print the parsed tree instead of evaluating.", NULL, 0},
        {"pretty", FLAG_BOOL, &pretty, NULL, "Print the canonical form of the query instead of evaluating.", NULL, 0},
        {0},
    };
    command cmd = {"query", "EXPR", "Evaluate a PromQL expression against a data folder.",
                   "An instant query at --time (default: now), or a range query with --start, --end and --step.\n"
                   "Parse errors name the position (line:column) as Prometheus does; exit code 1.",
                   flags, 1, 1};
    char *pos[64];
    int npos;
    int rc = flags_parse(&cmd, argc, argv, pos, &npos);
    if (rc) return rc == 1 ? 0 : 2;
    const char *expr = pos[0];
    int have_time = flags[3].seen, have_start = flags[4].seen, have_end = flags[5].seen, have_step = flags[6].seen;
    int is_range = have_start || have_end || have_step;
    if (is_range && (!have_start || !have_end || !have_step)) {
        fprintf(stderr, "promlite query: a range query needs --start, --end and --step\n");
        return 2;
    }
    if (is_range && have_time) {
        fprintf(stderr, "promlite query: --time is for instant queries; a range query takes --start/--end/--step\n");
        return 2;
    }
    pq_arena *arena = pq_arena_new();
    errbuf err;
    if (explain || pretty) {
        pq_node *root = pq_parse(arena, expr, strlen(expr), &err);
        if (!root) {
            fprintf(stderr, "promlite query: %s\n", err.msg);
            pq_arena_free(arena);
            return 1;
        }
        buf b = {0};
        if (explain) pq_explain(root, &b);
        else {
            pq_format(root, &b);
            buf_append(&b, "\n", 1);
        }
        if (b.len) fwrite(b.data, 1, b.len, stdout);
        buf_free(&b);
        pq_arena_free(arena);
        return 0;
    }
    if (!have_time) at = (int64_t)time(NULL) * 1000;
    tsdb *db = cli_open_storage("query", &sf, 1);
    if (!db) {
        pq_arena_free(arena);
        return 1;
    }
    pq_options o = {.lookback_ms = lookback};
    pq_result r;
    rc = is_range ? pq_query_range(db, &o, arena, expr, strlen(expr), start, end, step, &r, &err)
                  : pq_query_instant(db, &o, arena, expr, strlen(expr), at, &r, &err);
    if (rc) {
        fprintf(stderr, "promlite query: %s\n", err.msg);
    } else {
        buf b = {0};
        if (!strcmp(format, "json")) {
            jw_query_result(&b, &r);
            buf_append(&b, "\n", 1);
        } else {
            result_text(&b, &r);
        }
        if (b.len) fwrite(b.data, 1, b.len, stdout);
        buf_free(&b);
    }
    pq_arena_free(arena);
    int crc = cli_close_storage("query", db);
    return rc ? 1 : crc;
}

/* Reads a list of known failures: lines "FILE:LINE reason", FILE being the
 * script's base name; '#' starts a comment line. */
typedef struct {
    char **keys;
    int *hit;
    size_t n;
} known_list;

static int read_known(const char *path, known_list *k) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char line[1024];
    size_t cap = 0;
    while (fgets(line, sizeof line, f)) {
        char *p = line;
        while (*p == ' ' || *p == '\t') p++;
        if (*p == '#' || *p == '\n' || !*p) continue;
        size_t len = strcspn(p, " \t\n");
        if (k->n == cap) {
            cap = cap ? cap * 2 : 64;
            k->keys = xrealloc(k->keys, cap * sizeof *k->keys);
            k->hit = xrealloc(k->hit, cap * sizeof *k->hit);
        }
        k->keys[k->n] = xstrndup(p, len);
        k->hit[k->n] = 0;
        k->n++;
    }
    fclose(f);
    return 0;
}

int cmd_promqltest(int argc, char **argv) {
    const char *scratch = NULL, *known_path = NULL;
    flag_def flags[] = {
        {"scratch", FLAG_STRING, &scratch, "/tmp", "Folder for the temporary data folders of the scripts.", NULL, 0},
        {"known-failures", FLAG_STRING, &known_path, NULL,
         "A list of cases (\"FILE:LINE reason\" lines) expected to fail: they are reported as skipped, and a listed "
         "case that passes is an error (so the list only shrinks).",
         NULL, 0},
        {0},
    };
    command cmd = {"promqltest", "FILE...",
                   "Run PromQL conformance scripts (Prometheus's promqltest format).",
                   "Every eval case is run against a fresh data folder through the storage and query engines\n"
                   "and compared with its expectation as Prometheus's harness does.  Failing cases are\n"
                   "printed with the expression, the expected and the actual result; the last line is\n"
                   "\"N passed, N failed\".  Exit code 0 when nothing failed, 1 otherwise.",
                   flags, 1, 4096};
    char **pos = xmalloc((size_t)(argc + 1) * sizeof *pos);
    int npos;
    int rc = flags_parse(&cmd, argc, argv, pos, &npos);
    if (rc) {
        free(pos);
        return rc == 1 ? 0 : 2;
    }
    known_list known = {0};
    if (known_path && read_known(known_path, &known)) {
        fprintf(stderr, "promlite promqltest: cannot read %s\n", known_path);
        free(pos);
        return 2;
    }
    char *report = NULL;
    size_t report_len = 0;
    pt_counts total = {0};
    size_t skipped = 0, broken = 0;
    for (int i = 0; i < npos; i++) {
        FILE *mem = open_memstream(&report, &report_len);
        pt_counts c = {0};
        errbuf err;
        int frc = pt_run_file(pos[i], scratch, mem, &c, &err);
        fclose(mem);
        if (frc) {
            fprintf(stderr, "promlite promqltest: %s\n", err.msg);
            broken++;
        }
        /* Match each failure's "PATH:LINE:" against the known list by base name. */
        const char *base = strrchr(pos[i], '/');
        base = base ? base + 1 : pos[i];
        for (char *line = report; line && *line;) {
            char *nl = strchr(line, '\n');
            size_t len = nl ? (size_t)(nl - line + 1) : strlen(line);
            int is_case = !strncmp(line, pos[i], strlen(pos[i])) && line[strlen(pos[i])] == ':';
            int is_known = 0;
            if (is_case) {
                char key[600];
                int lno = atoi(line + strlen(pos[i]) + 1);
                snprintf(key, sizeof key, "%s:%d", base, lno);
                for (size_t k = 0; k < known.n; k++)
                    if (!strcmp(known.keys[k], key)) {
                        known.hit[k] = 1;
                        is_known = 1;
                    }
            }
            /* A case's report runs to the next case line. */
            char *next = line + len;
            while (*next && strncmp(next, pos[i], strlen(pos[i])) != 0) next += strcspn(next, "\n") + (next[strcspn(next, "\n")] ? 1 : 0);
            if (is_known) {
                skipped++;
                c.failed--;
                printf("known failure: %.*s", (int)strcspn(line, "\n"), line);
                putchar('\n');
            } else {
                fwrite(line, 1, (size_t)(next - line), stdout);
            }
            line = next;
        }
        free(report);
        report = NULL;
        total.passed += c.passed;
        total.failed += c.failed;
    }
    /* A listed case that no longer fails: the list must shrink. */
    size_t stale = 0;
    for (size_t k = 0; k < known.n; k++) {
        if (known.hit[k]) continue;
        const char *colon = strrchr(known.keys[k], ':');
        int listed_file_ran = 0;
        for (int i = 0; i < npos && colon; i++) {
            const char *base = strrchr(pos[i], '/');
            base = base ? base + 1 : pos[i];
            if (strlen(base) == (size_t)(colon - known.keys[k]) && !strncmp(base, known.keys[k], strlen(base)))
                listed_file_ran = 1;
        }
        if (!listed_file_ran) continue;
        printf("%s: listed as a known failure but passes: remove it from %s\n", known.keys[k], known_path);
        stale++;
    }
    for (size_t k = 0; k < known.n; k++) free(known.keys[k]);
    free(known.keys);
    free(known.hit);
    free(pos);
    total.failed += stale + broken;
    if (skipped) printf("%zu passed, %zu failed, %zu skipped\n", total.passed, total.failed, skipped);
    else printf("%zu passed, %zu failed\n", total.passed, total.failed);
    return total.failed ? 1 : 0;
}
