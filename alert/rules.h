/*
 * rules.h - rule files in Prometheus's format: loading and checking.
 *
 * A rule file holds `groups`, each with a `name`, an optional `interval`
 * and `limit`, and `rules`; a rule is a recording rule (`record`, `expr`,
 * `labels`) or an alerting rule (`alert`, `expr`, `for`,
 * `keep_firing_for`, `labels`, `annotations`).  Loading checks everything
 * Prometheus 2.42's rulefmt checks, with its wording, and more precisely
 * placed:
 *
 *     FILE:LINE:COL: group "g", rule 2, "HighLoad": could not parse
 *         expression: 1:7: parse error: unclosed left parenthesis
 *
 * Structural problems (YAML syntax, unknown keys, wrong types, bad
 * durations) stop the file at the first one, as Prometheus's YAML decoder
 * does; problems in rule contents are all collected, as `promtool check
 * rules` lists them.  Expressions are parsed once here; labels and
 * annotations of alerting rules are parsed as templates here (so a template
 * error is a load error) and expanded at each evaluation (alert/ruler.h).
 *
 * Ownership: a rule_set owns everything reachable from it (one arena, the
 * parsed expressions and templates); rule_set_free() releases it.
 * Threads: loading touches no shared state, so any thread may load.  A
 * loaded set is read-only, except that an expression tree's regex matchers
 * may be run by one thread at a time (the thread of the rule's group).
 */
#ifndef PROMLITE_ALERT_RULES_H
#define PROMLITE_ALERT_RULES_H

#include <stddef.h>
#include <stdint.h>

#include "alert/template.h"
#include "common/labels.h"
#include "common/util.h"
#include "query/ast.h"

typedef enum { RULE_RECORDING, RULE_ALERTING } rule_kind;

/* One rule as written, checked and prepared for evaluation. */
typedef struct rule_def {
    rule_kind kind;
    const char *name;           /* the record or alert name */
    const char *expr;           /* as written */
    const char *query;          /* canonical text of the parsed expression (the API's "query") */
    pq_node *tree;              /* the parsed expression */
    int64_t for_ms;             /* alerting: hold duration; 0 = fire at once */
    int64_t keep_firing_for_ms; /* alerting: keep firing this long after the condition clears */
    label *labels;              /* sorted by name; templates for alerting rules */
    size_t nlabels;
    label *annotations;         /* sorted by name; templates */
    size_t nannotations;
    tmpl **label_templates;     /* alerting: one per label, same order */
    tmpl **annotation_templates;
    uint64_t source_hash;       /* of everything above: equal hashes, equal rules */
} rule_def;

typedef struct rule_group_def {
    const char *name;
    const char *file;           /* the file as found by the glob */
    int64_t interval_ms;        /* 0 when not given: the global evaluation_interval */
    uint64_t limit;             /* 0 = none */
    rule_def *rules;
    size_t nrules;
    uint64_t source_hash;       /* of name, file, interval, limit and every rule */
} rule_group_def;

typedef struct rule_set {
    rule_group_def *groups;     /* in file order, then document order */
    size_t ngroups;
    size_t nfiles;              /* files read */
    void *priv;                 /* the allocation context (private) */
} rule_set;

/* Problems found in one load, each a full message ("FILE:LINE:COL: ..."). */
typedef struct rule_errors {
    char **msgs;
    size_t n, cap;
} rule_errors;
void rule_errors_free(rule_errors *e);

/* An empty set, to add files to. */
rule_set *rule_set_new(void);
void rule_set_free(rule_set *rs);

/* Parses one file's text into rs (name is the file name used in messages
 * and as the groups' file).  Returns 0, or -1 with every problem found
 * appended to errs and rs unchanged.  The text need not be
 * NUL-terminated. */
int rule_set_add_text(rule_set *rs, const char *text, size_t len, const char *name, rule_errors *errs);

/* Reads and parses one file (at most 16 MiB). */
int rule_set_add_file(rule_set *rs, const char *path, rule_errors *errs);

/* Expands each glob pattern (sorted matches, as Go's filepath.Glob; a
 * pattern that matches nothing is not an error) and adds every file.
 * Returns 0, or -1 with the problems of every failing file in errs. */
int rule_set_add_globs(rule_set *rs, const char *const *patterns, size_t n, rule_errors *errs);

/* The number of rules in the set. */
size_t rule_set_count(const rule_set *rs);

#endif
