/*
 * parser.h - the PromQL parser: query text in, syntax tree (ast.h) out, and
 * the tree back out as canonical text or as a debugging dump.
 *
 * The language is Prometheus 2.x PromQL on float samples, as Prometheus
 * 2.42/2.53 parses it: literals, selectors with matchers, ranges, offset
 * and @ modifiers, subqueries, functions, aggregations, binary operators
 * with vector matching, and unary minus.  Types are checked at parse time
 * exactly as Prometheus's checkAST does, so a tree that comes back from
 * pq_parse() is well-typed and every node has its type set.
 *
 * Implementation: an re2c lexer (query/lexer.re) that keeps Prometheus's
 * lexer states, and a pure bison grammar (query/parser.y) that is
 * Prometheus's grammar with its error productions; see the comments atop
 * those files.  Error messages reproduce Prometheus's text and position,
 * "LINE:COL: parse error: MESSAGE" with 1-based line and byte column.
 *
 * Ownership: every part of the tree, including compiled regexes, lives in
 * the arena passed to pq_parse(); pq_arena_free() releases it.  A failed
 * parse may leave allocations in the arena too (freed with it).  pq_format
 * and pq_explain append to a caller-owned buf.
 *
 * Threads: no global mutable state; any number of parses may run at once
 * on different arenas.  See ast.h for sharing a finished tree.
 */
#ifndef PROMLITE_QUERY_PARSER_H
#define PROMLITE_QUERY_PARSER_H

#include <stddef.h>

#include "common/util.h"
#include "query/ast.h"

/* Parses len bytes of text (need not be NUL-terminated, may hold any
 * bytes).  Returns the root of the checked tree, allocated from a; or NULL
 * with err set to the first error, e.g. "1:6: parse error: expected type
 * range vector in call to function \"rate\", got instant vector". */
pq_node *pq_parse(pq_arena *a, const char *text, size_t len, errbuf *err);

/* Appends the canonical text of a tree, as Prometheus's String() of the
 * AST prints it: "sum by (a) (rate(foo[5m]))", matchers sorted, durations
 * normalised ("90s" -> "1m30s"), @ before offset, strings double-quoted
 * with Go escapes.  Parsing the output yields a tree that formats the same.
 * (Prometheus prints a unary plus; promlite's tree has none, see ast.h.) */
void pq_format(const pq_node *n, buf *out);

/* Appends an indented dump of the tree, one node per line: kind, details,
 * type and byte range [start, end), children indented by two spaces. */
void pq_explain(const pq_node *n, buf *out);

#endif
