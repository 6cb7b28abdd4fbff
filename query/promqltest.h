/*
 * promqltest.h - the PromQL conformance runner: runs `.test` scripts
 * (promqltest_script.h reads them) against the real storage engine and
 * query engine, and compares every result with its expectation as
 * Prometheus's own harness does.
 *
 * Each script gets a fresh data folder under the given scratch folder; a
 * `clear` empties it.  The engine runs with the harness's settings
 * (FORMAT.md section 7): lookback 5m, at most 10000 samples per query,
 * subquery resolution 1m.
 *
 * Ownership: nothing is returned but counts; failures are printed to the
 * report stream as "FILE:LINE: ..." with the expression, the expected and
 * the actual result.
 * Threads: one script at a time per thread.
 */
#ifndef PROMLITE_PROMQLTEST_H
#define PROMLITE_PROMQLTEST_H

#include <stdio.h>

#include "common/util.h"

typedef struct {
    size_t passed, failed;
} pt_counts;

/* Runs the script at path; adds its eval cases to *counts.  scratch is a
 * folder for temporary data (created if missing).  Returns 0, or -1 with
 * err set when the script cannot be read or the storage fails (its cases
 * are then not counted). */
int pt_run_file(const char *path, const char *scratch, FILE *report, pt_counts *counts, errbuf *err);

#endif
