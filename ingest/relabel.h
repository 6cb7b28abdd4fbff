/*
 * relabel.h - Prometheus's relabeling: the rules of relabel_configs (target
 * labels before a scrape) and metric_relabel_configs (each scraped sample's
 * labels before it is stored), with every action of Prometheus 2.42.
 *
 * A rule is built once from its configuration (relabel_rule_new), with the
 * regular expression fully anchored and compiled with PCRE2 (JIT), and then
 * applied to many label sets.  Defaults are Prometheus's: action replace,
 * separator ";", regex "(.*)", replacement "$1".
 *
 * Ownership: relabel_rule_new() returns a rule freed by relabel_rule_free().
 * relabel_apply() writes its result into a relabel_builder the caller owns;
 * the label pointers it yields stay valid until the builder is reset,
 * reused or freed.
 * Threads: a rule holds PCRE2 match data, so one rule is applied by one
 * thread at a time (the scrape loop owns the rules of its targets).
 */
#ifndef PROMLITE_RELABEL_H
#define PROMLITE_RELABEL_H

#include <stddef.h>
#include <stdint.h>

#include "common/labels.h"
#include "common/util.h"

typedef enum {
    RELABEL_REPLACE,
    RELABEL_KEEP,
    RELABEL_DROP,
    RELABEL_HASHMOD,
    RELABEL_LABELMAP,
    RELABEL_LABELDROP,
    RELABEL_LABELKEEP,
    RELABEL_LOWERCASE,
    RELABEL_UPPERCASE,
    RELABEL_KEEPEQUAL,
    RELABEL_DROPEQUAL,
} relabel_action;

/* A rule as configured; NULL (or has_modulus 0) means "not given". */
typedef struct {
    const char *action;          /* "replace", "keep", ..., as in YAML       */
    const char *const *source_labels;
    size_t nsource;
    const char *separator;
    const char *target_label;
    const char *regex;
    int has_modulus;
    uint64_t modulus;
    const char *replacement;
} relabel_spec;

typedef struct relabel_rule relabel_rule;

/* Builds a rule, checking it as Prometheus's config loader does (unknown
 * action, invalid regex, missing target_label or modulus where the action
 * needs one, invalid target label name, ...).  Returns 0, or -1 with err set
 * to the reason in Prometheus's words, without a position: the caller adds
 * the file and line. */
int relabel_rule_new(const relabel_spec *spec, relabel_rule **out, errbuf *err);
void relabel_rule_free(relabel_rule *r);
relabel_action relabel_rule_action(const relabel_rule *r);

/* Where relabel_apply() builds its result: a sorted label set whose strings
 * live in the builder. */
typedef struct {
    label *labels;
    size_t n, cap;
    buf strings;                 /* private */
    void *scratch;               /* private */
} relabel_builder;

void relabel_builder_init(relabel_builder *b);
void relabel_builder_free(relabel_builder *b);

/* Applies rules[0..nrules) in order to the sorted set in[0..nin).  Returns
 * 1 when the set is kept (out holds the result, sorted, labels with empty
 * values removed), 0 when a rule dropped it. */
int relabel_apply(relabel_rule *const *rules, size_t nrules, const label *in, size_t nin, relabel_builder *out);

#endif
