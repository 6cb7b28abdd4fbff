/*
 * promqltest_script.h - reading PromQL conformance scripts, the `.test`
 * format of Prometheus's promql/promqltest harness (v2.53), described in
 * ../shared/promql-tests/FORMAT.md.
 *
 * A script is a list of commands: `load <interval>` with series and value
 * lists, `clear`, and the eval family (`eval`, `eval_fail`, `eval_ordered`;
 * `instant at <t>` or `range from <s> to <e> step <d>`) with the expected
 * result.  This module only reads and checks the text; running the
 * commands against storage and the query engine is the runner's job.
 *
 * Ownership: pt_script_read() fills a pt_script whose memory (commands,
 * series, labels, strings) is owned by the script's arena and released by
 * pt_script_free().
 * Threads: no shared state; any thread, one script per thread.
 */
#ifndef PROMLITE_PROMQLTEST_SCRIPT_H
#define PROMLITE_PROMQLTEST_SCRIPT_H

#include <stddef.h>
#include <stdint.h>

#include "common/labels.h"
#include "common/util.h"

/* One entry of an expanded value list. */
typedef enum {
    PT_VALUE,      /* a sample                                   */
    PT_OMITTED,    /* `_`: no sample in this slot                */
    PT_STALE,      /* `stale`: the staleness marker              */
} pt_entry_kind;

typedef struct {
    pt_entry_kind kind;
    double v;
} pt_entry;

/* A series with its expanded values: a load line or an expected result. */
typedef struct {
    label *labels;          /* sorted by name; __name__ included        */
    size_t nlabels;
    pt_entry *entries;
    size_t nentries;
    int line;               /* 1-based line in the file                 */
} pt_series;

typedef enum { PT_LOAD, PT_CLEAR, PT_EVAL } pt_cmd_kind;

typedef struct {
    pt_cmd_kind kind;
    int line;               /* line of the command word                 */
    /* PT_LOAD */
    int64_t interval_ms;
    /* PT_EVAL */
    int expect_fail;        /* eval_fail                                */
    int ordered;            /* eval_ordered                             */
    int range;              /* range, else instant                      */
    int64_t at_ms;          /* instant                                  */
    int64_t start_ms, end_ms, step_ms;   /* range                       */
    const char *expr;       /* the PromQL text                          */
    int expect_scalar;      /* the expectation is a bare number         */
    double scalar;
    /* PT_LOAD: the series to load; PT_EVAL: the expected series */
    pt_series *series;
    size_t nseries;
} pt_cmd;

typedef struct {
    pt_cmd *cmds;
    size_t ncmds;
    void *arena;            /* private */
} pt_script;

/* Reads a script from text (len bytes); name is used in error messages.
 * Returns 0, or -1 with err set to "name:line: reason" for the first
 * malformed line (the whole script is rejected, as Prometheus does). */
int pt_script_parse(const char *name, const char *text, size_t len, pt_script *out, errbuf *err);
/* Reads the file at path with pt_script_parse. */
int pt_script_read(const char *path, pt_script *out, errbuf *err);
void pt_script_free(pt_script *s);

/* Parses one value-list item sequence ("0+10x10 _ stale 5") into entries
 * (appended to a growable array owned by the caller via the callback-free
 * interface below).  Exposed for tests.  Returns the number of entries, or
 * -1 with err set. */
long pt_expand_values(const char *s, size_t len, pt_entry *out, size_t cap, errbuf *err);

/* Compares two floats as the Prometheus harness does (almost.Equal with
 * epsilon 1e-6): NaN equals NaN, exact equality, else relative error. */
int pt_almost_equal(double a, double b);

#endif
