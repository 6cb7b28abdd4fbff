/*
 * promqltest_script.c - reader of PromQL conformance scripts (see the
 * header and ../shared/promql-tests/FORMAT.md for the format).
 *
 * The reader works line by line, as the Go harness does: every line is
 * trimmed, comment lines count as blank, and a blank line ends the block of
 * a `load` or `eval`.  It checks everything it can without running a query
 * (durations, series descriptors, value lists, one value per instant
 * expectation) and rejects the whole file at the first malformed line, so a
 * typo in a script never turns into a silently skipped case.
 *
 * Memory: every allocation of a script is recorded in a list and freed
 * together by pt_script_free(); a script is built once and read many times,
 * so nothing finer is needed.
 */
#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/timeutil.h"
#include "query/promqltest_script.h"

typedef struct {
    void **ptrs;
    size_t n, cap;
} alloc_list;

static void *script_alloc(alloc_list *l, size_t n) {
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->ptrs = xrealloc(l->ptrs, l->cap * sizeof *l->ptrs);
    }
    void *p = xcalloc(1, n ? n : 1);
    l->ptrs[l->n++] = p;
    return p;
}

static char *script_strndup(alloc_list *l, const char *s, size_t n) {
    char *p = script_alloc(l, n + 1);
    memcpy(p, s, n);
    return p;
}

void pt_script_free(pt_script *s) {
    alloc_list *l = s->arena;
    if (l) {
        for (size_t i = 0; i < l->n; i++) free(l->ptrs[i]);
        free(l->ptrs);
        free(l);
    }
    free(s->cmds);
    memset(s, 0, sizeof *s);
}

int pt_almost_equal(double a, double b) {
    const double eps = 1e-6, min_normal = 2.2250738585072014e-308;
    if (isnan(a) && isnan(b)) return 1;
    if (a == b) return 1;
    double absum = fabs(a) + fabs(b), diff = fabs(a - b);
    if (a == 0 || b == 0 || absum < min_normal) return diff < eps * min_normal;
    return diff / fmin(absum, DBL_MAX) < eps;
}

/* Length of the decimal float at s (sign, digits, fraction, exponent, or
 * Inf/NaN in any case), 0 when there is none.  Hexadecimal is not a number
 * here, because `x` is the repeat operator of value lists. */
static size_t scan_number(const char *s, size_t len) {
    size_t i = 0;
    if (i < len && (s[i] == '+' || s[i] == '-')) i++;
    if (len - i >= 3 && (!strncasecmp(s + i, "inf", 3) || !strncasecmp(s + i, "nan", 3))) {
        size_t j = i + 3;
        if (len - i >= 8 && !strncasecmp(s + i, "infinity", 8)) j = i + 8;
        return j;
    }
    size_t digits = 0;
    while (i < len && isdigit((unsigned char)s[i])) i++, digits++;
    if (i < len && s[i] == '.') {
        i++;
        while (i < len && isdigit((unsigned char)s[i])) i++, digits++;
    }
    if (!digits) return 0;
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        size_t j = i + 1;
        if (j < len && (s[j] == '+' || s[j] == '-')) j++;
        size_t k = j;
        while (k < len && isdigit((unsigned char)s[k])) k++;
        if (k > j) i = k;
    }
    return i;
}

static double to_double(const char *s, size_t n) {
    char tmp[64];
    if (n >= sizeof tmp) n = sizeof tmp - 1;
    memcpy(tmp, s, n);
    tmp[n] = 0;
    return strtod(tmp, NULL);
}

/* Parses a whole string as one number; returns 0 and sets *v, or -1. */
static int parse_whole_number(const char *s, size_t len, double *v) {
    size_t n = scan_number(s, len);
    if (n == 0 || n != len) return -1;
    *v = to_double(s, n);
    return 0;
}

/* Parses an unsigned decimal repeat count. */
static int parse_count(const char *s, size_t len, uint64_t *out) {
    if (len == 0 || len > 9) return -1;
    uint64_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (!isdigit((unsigned char)s[i])) return -1;
        n = n * 10 + (uint64_t)(s[i] - '0');
    }
    *out = n;
    return 0;
}

/* Adds entries to a growable array. */
typedef struct {
    pt_entry *v;
    size_t n, cap;
    size_t limit;   /* 0: unlimited (pt_expand_values passes its cap) */
} entry_vec;

static int push_entry(entry_vec *e, pt_entry_kind kind, double v, errbuf *err) {
    if (e->limit && e->n >= e->limit) return errf(err, "too many values (more than %zu)", e->limit);
    if (e->n >= (1u << 24)) return errf(err, "a value list may expand to at most %u entries", 1u << 24);
    if (e->n == e->cap) {
        e->cap = e->cap ? e->cap * 2 : 16;
        e->v = xrealloc(e->v, e->cap * sizeof *e->v);
    }
    e->v[e->n].kind = kind;
    e->v[e->n].v = v;
    e->n++;
    return 0;
}

/* Expands one item ("7", "0+10x10", "_x3", "stale") onto e. */
static int expand_item(const char *s, size_t len, entry_vec *e, errbuf *err) {
    if (len == 1 && s[0] == '_') return push_entry(e, PT_OMITTED, 0, err);
    if (len == 5 && !memcmp(s, "stale", 5)) return push_entry(e, PT_STALE, 0, err);
    if (len >= 2 && s[0] == '_' && s[1] == 'x') {
        uint64_t n;
        if (parse_count(s + 2, len - 2, &n)) return errf(err, "invalid repeat count in \"%.*s\"", (int)len, s);
        for (uint64_t i = 0; i < n; i++)
            if (push_entry(e, PT_OMITTED, 0, err)) return -1;
        return 0;
    }
    size_t a = scan_number(s, len);
    if (a == 0) return errf(err, "invalid value \"%.*s\"", (int)len, s);
    double start = to_double(s, a), step = 0;
    if (a == len) return push_entry(e, PT_VALUE, start, err);
    size_t i = a;
    if (s[i] == '+' || s[i] == '-') {
        size_t b = scan_number(s + i, len - i);
        if (b <= 1) return errf(err, "invalid value \"%.*s\"", (int)len, s);
        step = to_double(s + i, b);
        i += b;
    }
    if (i >= len || s[i] != 'x') return errf(err, "invalid value \"%.*s\"", (int)len, s);
    uint64_t n;
    if (parse_count(s + i + 1, len - i - 1, &n)) return errf(err, "invalid repeat count in \"%.*s\"", (int)len, s);
    /* Repeated addition, as the Go harness does: the last bits of
     * non-integer steps depend on it. */
    double v = start;
    for (uint64_t k = 0; k <= n; k++) {
        if (push_entry(e, PT_VALUE, v, err)) return -1;
        v += step;
    }
    return 0;
}

static int expand_list(const char *s, size_t len, entry_vec *e, errbuf *err) {
    size_t i = 0;
    while (i < len) {
        while (i < len && (s[i] == ' ' || s[i] == '\t')) i++;
        size_t j = i;
        while (j < len && s[j] != ' ' && s[j] != '\t') j++;
        if (j > i && expand_item(s + i, j - i, e, err)) return -1;
        i = j;
    }
    return 0;
}

long pt_expand_values(const char *s, size_t len, pt_entry *out, size_t cap, errbuf *err) {
    entry_vec e = {0};
    e.limit = cap;
    int rc = expand_list(s, len, &e, err);
    if (rc == 0) memcpy(out, e.v, e.n * sizeof *out);
    free(e.v);
    return rc ? -1 : (long)e.n;
}

static int is_name_start(int c) { return isalpha(c) || c == '_' || c == ':'; }
static int is_name_char(int c) { return isalnum(c) || c == '_' || c == ':'; }

/* Reads a quoted label value with Go-style escapes at s[*i] (the quote);
 * the decoded bytes go to out (capacity >= len). */
static int read_quoted(const char *s, size_t len, size_t *i, char *out, size_t *outlen, errbuf *err) {
    char q = s[*i];
    size_t k = 0, p = *i + 1;
    while (p < len && s[p] != q) {
        char c = s[p++];
        if (c != '\\') {
            out[k++] = c;
            continue;
        }
        if (p >= len) break;
        c = s[p++];
        switch (c) {
        case 'n': out[k++] = '\n'; break;
        case 't': out[k++] = '\t'; break;
        case 'r': out[k++] = '\r'; break;
        case 'a': out[k++] = '\a'; break;
        case 'b': out[k++] = '\b'; break;
        case 'f': out[k++] = '\f'; break;
        case 'v': out[k++] = '\v'; break;
        case '\\': case '"': case '\'': out[k++] = c; break;
        default: return errf(err, "unknown escape sequence \"\\%c\" in a label value", c);
        }
    }
    if (p >= len) return errf(err, "unterminated label value");
    *i = p + 1;
    *outlen = k;
    return 0;
}

/* Parses the series descriptor at the start of s (name, {labels} or both);
 * sets *used to the bytes consumed. */
static int parse_series(alloc_list *al, const char *s, size_t len, pt_series *ser, size_t *used, errbuf *err) {
    size_t i = 0, n = 0, cap = 8;
    label *l = xmalloc(cap * sizeof *l);
    int rc = -1;
    if (i < len && is_name_start((unsigned char)s[i])) {
        size_t j = i;
        while (j < len && is_name_char((unsigned char)s[j])) j++;
        l[n++] = (label){METRIC_NAME_LABEL, 8, script_strndup(al, s + i, j - i), (uint32_t)(j - i)};
        i = j;
    }
    if (i < len && s[i] == '{') {
        i++;
        for (;;) {
            while (i < len && (s[i] == ' ' || s[i] == '\t')) i++;
            if (i < len && s[i] == '}') {
                i++;
                break;
            }
            size_t j = i;
            if (j >= len || !(isalpha((unsigned char)s[j]) || s[j] == '_')) {
                errf(err, "expected a label name at column %zu", i + 1);
                goto out;
            }
            while (j < len && (isalnum((unsigned char)s[j]) || s[j] == '_')) j++;
            const char *name = s + i;
            size_t nlen = j - i;
            i = j;
            while (i < len && (s[i] == ' ' || s[i] == '\t')) i++;
            if (i >= len || s[i] != '=') {
                errf(err, "expected '=' after label %.*s", (int)nlen, name);
                goto out;
            }
            i++;
            while (i < len && (s[i] == ' ' || s[i] == '\t')) i++;
            if (i >= len || (s[i] != '"' && s[i] != '\'')) {
                errf(err, "expected a quoted value for label %.*s", (int)nlen, name);
                goto out;
            }
            char *val = script_alloc(al, len - i + 1);
            size_t vlen = 0;
            if (read_quoted(s, len, &i, val, &vlen, err)) goto out;
            if (n == cap) l = xrealloc(l, (cap *= 2) * sizeof *l);
            l[n++] = (label){script_strndup(al, name, nlen), (uint32_t)nlen, val, (uint32_t)vlen};
            while (i < len && (s[i] == ' ' || s[i] == '\t')) i++;
            if (i < len && s[i] == ',') {
                i++;
                continue;
            }
            if (i < len && s[i] == '}') {
                i++;
                break;
            }
            errf(err, "expected ',' or '}' at column %zu", i + 1);
            goto out;
        }
    } else if (n == 0) {
        errf(err, "expected a series (a metric name or {labels})");
        goto out;
    }
    /* Labels with empty values are no labels, as in the data model. */
    size_t k = 0;
    for (size_t m = 0; m < n; m++)
        if (l[m].value_len) l[k++] = l[m];
    n = k;
    labels_sort(l, n);
    long d = labels_find_duplicate(l, n);
    if (d >= 0) {
        errf(err, "label %.*s is given twice", (int)l[d].name_len, l[d].name);
        goto out;
    }
    ser->labels = script_alloc(al, (n ? n : 1) * sizeof *l);
    memcpy(ser->labels, l, n * sizeof *l);
    ser->nlabels = n;
    *used = i;
    rc = 0;
out:
    free(l);
    return rc;
}

/* A series line: descriptor then values. */
static int parse_series_line(alloc_list *al, const char *s, size_t len, pt_series *ser, errbuf *err) {
    size_t used;
    if (parse_series(al, s, len, ser, &used, err)) return -1;
    if (used < len && s[used] != ' ' && s[used] != '\t')
        return errf(err, "expected white space after the series, found '%c'", s[used]);
    entry_vec e = {0};
    if (expand_list(s + used, len - used, &e, err)) {
        free(e.v);
        return -1;
    }
    ser->entries = script_alloc(al, (e.n ? e.n : 1) * sizeof *e.v);
    memcpy(ser->entries, e.v, e.n * sizeof *e.v);
    ser->nentries = e.n;
    free(e.v);
    return 0;
}

/* Takes the next white-space separated word of *p (advancing it). */
static size_t next_word(const char **p, const char *end, const char **word) {
    const char *s = *p;
    while (s < end && (*s == ' ' || *s == '\t')) s++;
    const char *w = s;
    while (s < end && *s != ' ' && *s != '\t') s++;
    *word = w;
    *p = s;
    return (size_t)(s - w);
}

static int word_is(const char *w, size_t n, const char *lit) { return n == strlen(lit) && !memcmp(w, lit, n); }

static int word_duration(const char *w, size_t n, int64_t *ms) {
    char tmp[64];
    if (n == 0 || n >= sizeof tmp) return -1;
    memcpy(tmp, w, n);
    tmp[n] = 0;
    return parse_duration(tmp, ms);
}

typedef struct {
    const char *s;
    size_t len;
} line_ref;

/* Splits text into trimmed lines; comment lines become empty. */
static line_ref *split_lines(const char *text, size_t len, size_t *nlines) {
    size_t cap = 256, n = 0;
    line_ref *v = xmalloc(cap * sizeof *v);
    size_t i = 0;
    while (i <= len) {
        size_t j = i;
        while (j < len && text[j] != '\n') j++;
        const char *a = text + i, *b = text + j;
        while (a < b && (*a == ' ' || *a == '\t' || *a == '\r')) a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t' || b[-1] == '\r')) b--;
        if (a < b && *a == '#') b = a;
        if (n == cap) v = xrealloc(v, (cap *= 2) * sizeof *v);
        v[n++] = (line_ref){a, (size_t)(b - a)};
        if (j >= len) break;
        i = j + 1;
    }
    *nlines = n;
    return v;
}

/* Reads the eval header after the command word into c. */
static int parse_eval_header(alloc_list *al, const char *p, const char *end, pt_cmd *c, errbuf *err) {
    const char *w;
    size_t n = next_word(&p, end, &w);
    if (word_is(w, n, "instant")) {
        n = next_word(&p, end, &w);
        if (!word_is(w, n, "at")) return errf(err, "expected \"at\" after \"instant\"");
        n = next_word(&p, end, &w);
        if (word_duration(w, n, &c->at_ms)) return errf(err, "invalid time \"%.*s\"", (int)n, w);
    } else if (word_is(w, n, "range")) {
        if (c->ordered) return errf(err, "eval_ordered is not supported for range queries");
        c->range = 1;
        const char *words[3] = {"from", "to", "step"};
        int64_t *dst[3] = {&c->start_ms, &c->end_ms, &c->step_ms};
        for (int k = 0; k < 3; k++) {
            n = next_word(&p, end, &w);
            if (!word_is(w, n, words[k])) return errf(err, "expected \"%s\" in a range eval", words[k]);
            n = next_word(&p, end, &w);
            if (word_duration(w, n, dst[k])) return errf(err, "invalid %s \"%.*s\"", words[k], (int)n, w);
        }
        if (c->end_ms < c->start_ms) return errf(err, "the end of the range is before its start");
        if (c->step_ms <= 0) return errf(err, "the step must be positive");
    } else {
        return errf(err, "expected \"instant\" or \"range\" after the eval command");
    }
    while (p < end && (*p == ' ' || *p == '\t')) p++;
    if (p == end) return errf(err, "the eval has no expression");
    c->expr = script_strndup(al, p, (size_t)(end - p));
    return 0;
}

int pt_script_parse(const char *name, const char *text, size_t len, pt_script *out, errbuf *err) {
    memset(out, 0, sizeof *out);
    alloc_list *al = xcalloc(1, sizeof *al);
    out->arena = al;
    size_t nlines;
    line_ref *lines = split_lines(text, len, &nlines);
    size_t cap = 0;
    int rc = 0;
    errbuf why;
    for (size_t i = 0; i < nlines && rc == 0; i++) {
        const char *s = lines[i].s, *end = s + lines[i].len;
        if (lines[i].len == 0) continue;
        if (out->ncmds == cap) {
            cap = cap ? cap * 2 : 64;
            out->cmds = xrealloc(out->cmds, cap * sizeof *out->cmds);
        }
        pt_cmd *c = &out->cmds[out->ncmds];
        memset(c, 0, sizeof *c);
        c->line = (int)i + 1;
        const char *p = s, *w;
        size_t n = next_word(&p, end, &w);
        int is_load = word_is(w, n, "load");
        if (word_is(w, n, "clear")) {
            if (p != end) {
                rc = errf(err, "%s:%zu: \"clear\" takes no arguments", name, i + 1);
                break;
            }
            c->kind = PT_CLEAR;
            out->ncmds++;
            continue;
        }
        if (is_load) {
            c->kind = PT_LOAD;
            n = next_word(&p, end, &w);
            if (word_duration(w, n, &c->interval_ms) || c->interval_ms <= 0 || p != end) {
                rc = errf(err, "%s:%zu: \"load\" needs one positive interval, got \"%.*s\"", name, i + 1,
                          (int)(end - s), s);
                break;
            }
        } else if (word_is(w, n, "eval") || word_is(w, n, "eval_fail") || word_is(w, n, "eval_ordered")) {
            c->kind = PT_EVAL;
            c->expect_fail = word_is(w, n, "eval_fail");
            c->ordered = word_is(w, n, "eval_ordered");
            if (parse_eval_header(al, p, end, c, &why)) {
                rc = errf(err, "%s:%zu: %s", name, i + 1, why.msg);
                break;
            }
        } else {
            rc = errf(err, "%s:%zu: invalid command \"%.*s\"", name, i + 1, (int)n, w);
            break;
        }
        /* The block: lines up to the first blank one. */
        size_t scap = 0, j = i + 1;
        for (; j < nlines && lines[j].len && rc == 0; j++) {
            const char *ls = lines[j].s;
            size_t ll = lines[j].len;
            double v;
            if (c->kind == PT_EVAL && parse_whole_number(ls, ll, &v) == 0) {
                if (c->nseries) {
                    rc = errf(err, "%s:%zu: a scalar expectation cannot follow series", name, j + 1);
                    break;
                }
                c->expect_scalar = 1;
                c->scalar = v;
                j++;
                break; /* a bare number ends the block */
            }
            if (c->nseries == scap) {
                scap = scap ? scap * 2 : 8;
                pt_series *ns = script_alloc(al, scap * sizeof *ns);
                if (c->nseries) memcpy(ns, c->series, c->nseries * sizeof *ns);
                c->series = ns;
            }
            pt_series *ser = &c->series[c->nseries];
            memset(ser, 0, sizeof *ser);
            ser->line = (int)j + 1;
            if (parse_series_line(al, ls, ll, ser, &why)) {
                rc = errf(err, "%s:%zu: %s", name, j + 1, why.msg);
                break;
            }
            if (c->kind == PT_EVAL && !c->range && ser->nentries != 1) {
                rc = errf(err, "%s:%zu: an instant expectation takes exactly one value, got %zu", name, j + 1,
                          ser->nentries);
                break;
            }
            if (c->kind == PT_EVAL && c->range) {
                size_t steps = (size_t)((c->end_ms - c->start_ms) / c->step_ms) + 1;
                if (ser->nentries > steps) {
                    rc = errf(err, "%s:%zu: %zu values for a range of %zu steps", name, j + 1, ser->nentries, steps);
                    break;
                }
            }
            c->nseries++;
        }
        i = j - 1; /* the loop's i++ lands on the line after the block */
        if (rc == 0) out->ncmds++;
    }
    free(lines);
    if (rc) {
        pt_script_free(out);
        return -1;
    }
    return 0;
}

int pt_script_read(const char *path, pt_script *out, errbuf *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return errf(err, "cannot open %s: %s", path, strerror(errno));
    buf b = {0};
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) buf_append(&b, chunk, n);
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        buf_free(&b);
        return errf(err, "cannot read %s", path);
    }
    int rc = pt_script_parse(path, b.data ? (const char *)b.data : "", b.len, out, err);
    buf_free(&b);
    return rc;
}
