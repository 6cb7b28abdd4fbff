/*
 * selector.h - label matchers and the series-selector syntax
 * `metric{name="v", other=~"re.*", x!="y", z!~"w"}`.
 *
 * Regular expressions are fully anchored, as in Prometheus, and compiled once
 * with PCRE2 (JIT where available).  A matcher with an empty value matches a
 * series that lacks the label, exactly as in PromQL.
 *
 * Ownership: matcher_init() allocates the name, value and compiled regex;
 * matcher_free() releases them.  selector_parse() returns an array the caller
 * frees with matchers_free().
 * Threads: a matcher holds its own match data, so one matcher is used by one
 * thread at a time.
 */
#ifndef PROMLITE_SELECTOR_H
#define PROMLITE_SELECTOR_H

#include <stddef.h>

#include "common/util.h"

typedef enum { MATCH_EQ, MATCH_NEQ, MATCH_RE, MATCH_NRE } match_op;

typedef struct matcher {
    match_op op;
    char *name;
    size_t name_len;
    char *value;
    size_t value_len;
    void *re;          /* pcre2_code *, for MATCH_RE and MATCH_NRE */
    void *match_data;  /* pcre2_match_data * */
} matcher;

/* Builds a matcher.  Returns 0, or -1 with err set (bad regular expression). */
int matcher_init(matcher *m, match_op op, const char *name, size_t name_len, const char *value,
                 size_t value_len, errbuf *err);
void matcher_free(matcher *m);
void matchers_free(matcher *m, size_t n);

/* Whether a label value (the empty string when the label is absent)
 * satisfies the matcher. */
int matcher_matches(const matcher *m, const char *value, size_t len);

/* Parses a series selector.  Returns 0 with out and n set, or -1 with err set to
 * "col N: reason".  At least one matcher must not match the empty string, as
 * in PromQL. */
int selector_parse(const char *s, matcher **out, size_t *n, errbuf *err);

#endif
