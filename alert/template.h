/*
 * template.h - Go's text/template as Prometheus expands alerting-rule
 * labels and annotations and Alertmanager expands notification templates.
 *
 * A template is parsed once (tmpl_parse) into a tree with its named
 * sub-templates ({{define}}, {{block}}) and executed many times
 * (tmpl_execute) against data the caller builds per execution from a
 * tmpl_data arena.  The language is Go 1.19's: text and {{actions}}, "{{- "
 * and " -}}" trimming, comments, pipelines, parenthesised pipelines,
 * variables ($x := ..., $x = ..., $), field chains (.A.B, $x.A), if / else
 * if / else, range (lists and maps in sorted key order, $i, $e :=, else,
 * break, continue), with / else, define, template, block; string, raw
 * string, character, number, bool and nil constants.  Output, errors and
 * edge cases follow Go byte for byte where the data model allows (fmt's
 * verbs and flags, strconv's float formatting, parse and execution error
 * messages with Go's positions).
 *
 * Functions.  Always: Go's and, or, not, len, index, slice, eq, ne, lt, le,
 * gt, ge, print, printf, println, html, js, urlquery.  With
 * TMPL_FUNCS_PROMETHEUS, those of Prometheus 2.42's template package:
 * query, first, label, value, strvalue, sortByLabel, args, humanize,
 * humanize1024, humanizeDuration, humanizePercentage, humanizeTimestamp,
 * toTime, parseDuration, toUpper, toLower, title, match, reReplaceAll,
 * safeHtml, stripPort, stripDomain, graphLink, tableLink, pathPrefix,
 * externalURL.  With TMPL_FUNCS_ALERTMANAGER, Alertmanager's: toUpper,
 * toLower, title, trimSpace, join, match, reReplaceAll, safeHtml,
 * stringSlice.  A name outside the selected families is a parse error
 * (function "x" not defined), as in Go.
 *
 * Data model.  A value is nil, a bool, an int (Go's int: template integer
 * constants, len, Unix), a float (float64: sample values), a string, a
 * time, a list or a map with string keys.  Lists and maps carry the Go
 * type they stand for, which decides what Go would do with them:
 *   - TMPL_MAP_STRINGS is map[string]string (Prometheus's $labels): a
 *     missing key reads as "" (Prometheus and Alertmanager execute with
 *     missingkey=zero); TMPL_MAP_ANY is map[string]interface{}: a missing
 *     key reads as nil, printed "<no value>".
 *   - TMPL_MAP_KV is Alertmanager's KV (map[string]string) with its methods
 *     .SortedPairs (alertname first, then by name), .Names, .Values and
 *     .Remove LIST; TMPL_LIST_PAIRS (from .SortedPairs) has .Names and
 *     .Values; TMPL_LIST_ALERTS has .Firing and .Resolved (the alerts whose
 *     Status field is "firing" / "resolved").
 *   - A struct (tmpl_struct) has named fields; a field it lacks is an
 *     execution error (can't evaluate field X in type T), as in Go.
 *   - A time has the methods .Format LAYOUT (Go's layouts, in UTC), .Unix,
 *     .UnixMilli, .UnixNano, .UTC, .Local (also UTC: no zone database),
 *     .IsZero and .String, and prints as Go's Time.String().
 * Maps are kept sorted by key (Go's fmt and range visit keys in sorted
 * order); structs keep their fields in declaration order.  nil stands for
 * Go's nil interface and for a missing value alike: an action prints it as
 * "<no value>", fmt inside a list or a printf operand as "<nil>", and a
 * field of nil is nil.
 *
 * Prometheus's alert expansion is tmpl_parse_alert() with the data of
 * tmpl_alert_data(): the text is prefixed exactly as Prometheus 2.42 does,
 * with {{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}
 * {{$externalURL := .ExternalURL}}{{$value := .Value}}, so positions in
 * error messages match Prometheus's too.  Prometheus wraps the messages as
 * "error parsing template NAME: ..." / "error executing template NAME:
 * ..."; that is the caller's to add.
 *
 * Limits.  An execution stops with an error when its output passes
 * max_output bytes (default 1 MiB), when it has taken max_steps steps
 * (default 1,000,000: one per node walked and per command evaluated), when
 * {{template}} calls nest deeper than max_depth (default 100) or control
 * structures and parentheses nest deeper than 1000, and when the values it
 * creates pass max_memory bytes (default 16 MiB); printing a value stops
 * at those limits too, and at values nested deeper than 1000 levels (which
 * a template can build with args).  Parsing rejects nesting deeper than
 * 200 levels; printf widths and precisions are bounded as in Go's fmt
 * (%!(BADWIDTH) past about 10^7).  So a template can neither hang nor
 * exhaust the server.
 *
 * Left out on purpose: html/template's contextual escaping (Prometheus's
 * console pages), the call builtin and function values, complex numbers,
 * methods other than those listed above, custom delimiters, Go-syntax
 * output (%#v prints like %v, strings quoted), pointer addresses (a
 * pointer to a struct prints as &{...} wherever it is), time zones other
 * than UTC, and what Go added after 1.19 (range over integers and
 * functions, {{else with}}).  Regular expressions are PCRE2 with RE2-like
 * settings (see template.c); their syntax errors are worded like Go's only
 * for the common cases, and case mapping and Unicode classes come from the
 * C library's C.UTF-8 tables.
 *
 * Ownership: tmpl_parse() returns a template freed by tmpl_free(); it keeps
 * its own copy of the text and names.  tmpl_data_new() returns an arena
 * freed by tmpl_data_free(); every value made from it, and every string or
 * label array passed to a constructor, must stay valid until the
 * executions that use it return (constructors copy nothing unless their
 * comment says so).  tmpl_execute() appends to the caller's buf and leaves
 * it as it was on error.
 * Threads: a parsed template is read-only: any number of threads may
 * execute it at once.  An arena and the values in it belong to one thread
 * at a time; values may be shared read-only by concurrent executions.
 */
#ifndef PROMLITE_TEMPLATE_H
#define PROMLITE_TEMPLATE_H

#include <stddef.h>
#include <stdint.h>

#include "common/labels.h"
#include "common/util.h"

typedef struct tmpl tmpl;
typedef struct tmpl_data tmpl_data;
typedef struct tmpl_value tmpl_value;

/* ------------------------------------------------------------ parsing */

/* Function families (tmpl_options.funcs); Go's builtins are always there. */
#define TMPL_FUNCS_PROMETHEUS   1u
#define TMPL_FUNCS_ALERTMANAGER 2u

typedef struct {
    unsigned funcs;           /* TMPL_FUNCS_* bits */
    /* Named templates that {{template}} finds when this one does not
     * define them (Alertmanager's template files behind a configuration
     * string).  The caller keeps defs alive as long as this template. */
    const tmpl *defs;
} tmpl_options;

/* Parses text[0..len) as the template called name (the name shown in
 * error messages).  o may be NULL (Go's builtins only, no defs).  Returns 0
 * and sets *out, or -1 with err set to Go's message, such as
 * `template: NAME:1: unexpected "}" in operand` or
 * `template: NAME:1: function "foo" not defined`. */
int tmpl_parse(const char *name, const char *text, size_t len, const tmpl_options *o, tmpl **out, errbuf *err);

/* tmpl_parse() of Prometheus's alert prefix followed by text (see the top
 * of this file); executes against tmpl_alert_data(). */
int tmpl_parse_alert(const char *name, const char *text, size_t len, const tmpl_options *o, tmpl **out, errbuf *err);

void tmpl_free(tmpl *t);

/* ------------------------------------------------------------ execution */

typedef enum {
    TMPL_MISSING_ZERO,        /* missingkey=zero: Prometheus, Alertmanager (default) */
    TMPL_MISSING_DEFAULT,     /* Go's default: a missing key is nil, "<no value>" */
    TMPL_MISSING_ERROR,       /* missingkey=error */
} tmpl_missing_key;

/* The query function's hook: runs the PromQL query q[0..len) and sets *out
 * to its result, normally a TMPL_LIST_SAMPLES list of tmpl_sample()s,
 * allocated from d (the execution's own arena) or from memory that
 * outlives the execution.  Returns 0, or -1 with err set (the template
 * fails with "error calling query: <err>"). */
typedef int (*tmpl_query_fn)(void *ctx, const char *q, size_t len, tmpl_data *d, const tmpl_value **out,
                             errbuf *err);

typedef struct {
    const char *entry;             /* the named template to run; NULL: the main one */
    tmpl_missing_key missing_key;
    tmpl_query_fn query;           /* NULL: query fails with an error */
    void *query_ctx;               /* passed to query, called on the executing thread */
    const char *external_url;      /* externalURL, and its path for pathPrefix; NULL: "" */
    size_t max_output;             /* 0: 1 MiB */
    size_t max_memory;             /* 0: 16 MiB */
    uint64_t max_steps;            /* 0: 1,000,000 */
    unsigned max_depth;            /* 0: 100 nested {{template}} calls */
} tmpl_exec_options;

/* Executes t with dot (NULL: nil) as its data, appending the output to
 * out.  o may be NULL (defaults).  Returns 0, or -1 with err set to Go's
 * message, such as `template: NAME:1:3: executing "NAME" at <humanize "x">:
 * error calling humanize: strconv.ParseFloat: parsing "x": invalid
 * syntax`, and out unchanged. */
int tmpl_execute(const tmpl *t, const tmpl_value *dot, const tmpl_exec_options *o, buf *out, errbuf *err);

/* ------------------------------------------------------------ data */

tmpl_data *tmpl_data_new(void);
/* Drops every value made from d, keeping its memory for reuse. */
void tmpl_data_reset(tmpl_data *d);
void tmpl_data_free(tmpl_data *d);
/* Copies s[0..len) into d (NUL-terminated); for callers whose strings do
 * not outlive the execution. */
const char *tmpl_data_strdup(tmpl_data *d, const char *s, size_t len);
/* Copies a label array and its strings into d. */
const label *tmpl_data_copy_labels(tmpl_data *d, const label *ls, size_t n);

/* Scalars.  tmpl_nil() and tmpl_bool() are constants needing no arena. */
const tmpl_value *tmpl_nil(void);
const tmpl_value *tmpl_bool(int b);
const tmpl_value *tmpl_int(tmpl_data *d, int64_t v);
const tmpl_value *tmpl_float(tmpl_data *d, double v);
const tmpl_value *tmpl_string(tmpl_data *d, const char *s, size_t len);   /* s not copied */
/* A UTC time: sec since the Unix epoch, nsec in [0, 1e9). */
const tmpl_value *tmpl_time(tmpl_data *d, int64_t sec, int32_t nsec);

typedef enum {
    TMPL_LIST_ANY,            /* []interface{} */
    TMPL_LIST_STRINGS,        /* []string: .Names, .Values, stringSlice (join takes any list of strings) */
    TMPL_LIST_SAMPLES,        /* Prometheus's query result */
    TMPL_LIST_ALERTS,         /* Alertmanager's Alerts: .Firing, .Resolved */
    TMPL_LIST_PAIRS,          /* Alertmanager's Pairs: .Names, .Values */
} tmpl_list_type;

/* An empty list with room for cap items; tmpl_list_push() appends (a NULL
 * item is nil). */
tmpl_value *tmpl_list(tmpl_data *d, tmpl_list_type type, size_t cap);
void tmpl_list_push(tmpl_data *d, tmpl_value *list, const tmpl_value *item);

typedef enum {
    TMPL_MAP_ANY,             /* map[string]interface{} */
    TMPL_MAP_STRINGS,         /* map[string]string */
    TMPL_MAP_KV,              /* Alertmanager's KV */
} tmpl_map_type;

/* An empty map, or a struct whose Go type name (for error messages and
 * printing; a leading '*' prints it as &{...}) is type_name (not copied;
 * NULL: "struct {}").  tmpl_map_put() sets key (not copied) to v (NULL:
 * nil), replacing an existing key; a struct's fields keep their order. */
tmpl_value *tmpl_map(tmpl_data *d, tmpl_map_type type, size_t cap);
tmpl_value *tmpl_struct(tmpl_data *d, const char *type_name, size_t cap);
void tmpl_map_put(tmpl_data *d, tmpl_value *map, const char *key, size_t key_len, const tmpl_value *v);

/* A map of strings over a label set (type TMPL_MAP_STRINGS or
 * TMPL_MAP_KV) without copying strings: ls is used in place when it is
 * sorted by name, as promlite's label sets are (otherwise a sorted map of
 * pointers into it is built). */
const tmpl_value *tmpl_labels(tmpl_data *d, tmpl_map_type type, const label *ls, size_t n);

/* Prometheus's query result element: *template.sample{Labels, Value}. */
const tmpl_value *tmpl_sample(tmpl_data *d, const label *ls, size_t n, double value);

/* Prometheus's alert template data: struct {Labels, ExternalLabels,
 * ExternalURL, Value}; external_url may be NULL (""). */
const tmpl_value *tmpl_alert_data(tmpl_data *d, const label *ls, size_t n, const label *external, size_t nexternal,
                                  const char *external_url, double value);

#endif
