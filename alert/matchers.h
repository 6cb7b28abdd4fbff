/*
 * matchers.h - Alertmanager's label matchers: `name="value"`, `name!="value"`,
 * `name=~"regex"`, `name!~"regex"`, alone or as a list `{a="b", c=~"d"}`.
 *
 * Routes (`matchers:`, and the deprecated `match:`/`match_re:`, which the
 * configuration loader turns into am_matcher_add calls), inhibit rules,
 * silences and the API's `filter=` parameters all use them, so the syntax,
 * the semantics and the error messages are Alertmanager 0.25's
 * (pkg/labels): names are [a-zA-Z_:][a-zA-Z0-9_:]*, values may be quoted
 * (with the escapes \" \\ \n) or bare, a leading '{' and a trailing '}' are
 * optional, regular expressions are fully anchored (^(?:re)$), and a
 * missing label matches as the empty value, so `a=""` matches an alert
 * without `a` and `a!=""` one that has it.
 *
 * Regular expressions are Go's RE2 syntax, as Alertmanager accepts them:
 * a pattern is checked against Go's grammar first (what Go refuses is
 * refused, with Go's message, e.g. "error parsing regexp: missing closing
 * ]: `[a)$`"), then rewritten into an equivalent PCRE2 pattern (escapes
 * whose meaning differs between the two, such as \v or octal escapes,
 * become \x{..}) and compiled once with PCRE2, JIT where available.
 *
 * Ownership: an am_matchers owns its array, every name and value and the
 * compiled patterns; am_matchers_free releases them (and leaves an empty,
 * reusable list).  Start from a zeroed am_matchers.
 * Threads: building a list (add, parse, free) is the owner's business.  A
 * built list is read-only: any number of threads may match it at once
 * (match data is per call, or per caller's scratch).
 */
#ifndef PROMLITE_ALERT_MATCHERS_H
#define PROMLITE_ALERT_MATCHERS_H

#include <stddef.h>

#include "common/labels.h"
#include "common/util.h"

typedef enum { AM_MATCH_EQ, AM_MATCH_NE, AM_MATCH_RE, AM_MATCH_NRE } am_match_type;

typedef struct am_matcher {
    am_match_type type;
    char *name;          /* NUL-terminated */
    char *value;         /* NUL-terminated; the pattern for RE and NRE */
    size_t name_len, value_len;
    void *re;            /* pcre2_code * of ^(?:value)$, RE and NRE only */
} am_matcher;

typedef struct am_matchers {
    am_matcher *v;
    size_t n, cap;
} am_matchers;

/* "=", "!=", "=~", "!~". */
const char *am_match_type_op(am_match_type t);

/* Appends a copy of one matcher (name and value are copied).  The name is
 * not checked: callers that need a label name check it (the API does).
 * Returns 0, or -1 with err set when a regular expression does not compile,
 * in Go's words ("error parsing regexp: ..."). */
int am_matcher_add(am_matchers *m, am_match_type t, const char *name, const char *value, errbuf *err);

/* Parses one matcher as Alertmanager's ParseMatcher (the API's filter=
 * parameters): no braces, no list.  Appends it and returns 0, or returns -1
 * with err set ("bad matcher format: x", "matcher value contains unescaped
 * double quote: \"v", "matcher value not valid UTF-8: ...", a regular
 * expression error) and m unchanged. */
int am_matcher_parse(am_matchers *m, const char *text, errbuf *err);

/* Parses a list as Alertmanager's ParseMatchers (routes, inhibit rules,
 * amtool): optional braces, commas outside quotes separate matchers, a
 * trailing comma is allowed, "" and "{}" give no matchers.  Appends every
 * matcher and returns 0, or returns -1 with err set and m unchanged. */
int am_matchers_parse(am_matchers *m, const char *text, errbuf *err);

/* Whether one value (the empty string for a missing label) satisfies m. */
int am_matcher_matches(const am_matcher *m, const char *value, size_t len);

/* Whether a label set satisfies every matcher of m (true for an empty m).
 * ls need not be sorted.  Thread-safe on a shared m. */
int am_matchers_match(const am_matchers *m, const label *ls, size_t n);

/* Match state a caller reuses across calls so that matching allocates
 * nothing once warm (the notifier's mute check matches every silence for
 * every alert).  Zero-initialise; one per thread; release with
 * am_match_scratch_free. */
typedef struct am_match_scratch {
    void *md_; /* pcre2_match_data * */
} am_match_scratch;
int am_matchers_match_with(const am_matchers *m, const label *ls, size_t n, am_match_scratch *scratch);
void am_match_scratch_free(am_match_scratch *scratch);

/* Appends one matcher as Alertmanager's String(): name, operator, the value
 * in double quotes with \\ \" \n escaped: a=~"x|y". */
void am_matcher_format(const am_matcher *m, buf *out);

/* Appends the list as Alertmanager's Matchers.String(): {a="b",c=~"d"}. */
void am_matchers_format(const am_matchers *m, buf *out);

void am_matchers_free(am_matchers *m);

/* Checks a bare regular expression (not anchored) as Go's regexp.Compile
 * would, for callers that validate patterns the way Alertmanager's silence
 * validation does.  Returns 0, or -1 with err set to Go's message. */
int am_regex_check(const char *re, size_t len, errbuf *err);

/* Appends s as Go's strconv.Quote (%q) writes it, for messages that quote
 * user input the way Alertmanager's do: "a\"b", "\x01", "\u2028". */
void am_go_quote(buf *out, const char *s, size_t n);

#endif
