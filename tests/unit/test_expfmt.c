/*
 * test_expfmt.c - the exposition parser (ingest/expfmt.re): what it accepts
 * in the text format 0.0.4 and OpenMetrics 1.0, what it yields for each
 * line (names, labels, bit-exact values, timestamps, family types), where it
 * reports errors (LINE:COL) and that it recovers after them, that input cut
 * into pieces parses exactly as in one piece, and that its float conversion
 * agrees with strtod bit for bit.
 *
 * Each test parses a string and renders what came out as one text line per
 * item, so that the expectations read like the input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "ingest/expfmt.h"

/* Rendering of parsed items: "S name{a=v,...} value ts|- type", "H name text",
 * "T name type", "U name unit", "EOF", "E line:col: message". */
typedef struct {
    buf out;
    uint64_t values[64]; /* bits of the sample values, in order */
    size_t nvalues;
} result;

static void render_item(result *r, expfmt_parser *p, expfmt_kind k, const expfmt_item *it) {
    switch (k) {
    case EXPFMT_SAMPLE: {
        const expfmt_sample *s = &it->sample;
        buf_printf(&r->out, "S %.*s{", (int)s->metric_len, s->metric);
        for (size_t i = 0; i < s->nlabels; i++)
            buf_printf(&r->out, "%s%.*s=%.*s", i ? "," : "", (int)s->labels[i].name_len, s->labels[i].name,
                       (int)s->labels[i].value_len, s->labels[i].value);
        char v[FLOAT_TEXT_MAX];
        buf_printf(&r->out, "} %s", format_float(s->value, v));
        if (s->has_timestamp) buf_printf(&r->out, " %lld", (long long)s->timestamp_ms);
        else buf_printf(&r->out, " -");
        buf_printf(&r->out, " t%d\n", (int)s->type);
        if (r->nvalues < 64) memcpy(&r->values[r->nvalues++], &s->value, 8);
        break;
    }
    case EXPFMT_HELP:
        buf_printf(&r->out, "H %.*s %.*s\n", (int)it->meta.name_len, it->meta.name, (int)it->meta.text_len, it->meta.text);
        break;
    case EXPFMT_TYPE:
        buf_printf(&r->out, "T %.*s %d\n", (int)it->meta.name_len, it->meta.name, (int)it->meta.type);
        break;
    case EXPFMT_UNIT:
        buf_printf(&r->out, "U %.*s %.*s\n", (int)it->meta.name_len, it->meta.name, (int)it->meta.text_len, it->meta.text);
        break;
    case EXPFMT_EOF:
        buf_printf(&r->out, "EOF\n");
        break;
    case EXPFMT_ERROR:
        buf_printf(&r->out, "E %s\n", expfmt_error(p));
        break;
    default:
        break;
    }
}

/* Parses in as one piece (or, with piece_lines > 0, in pieces of that many
 * lines) and renders every item, then "F message" if finish fails. */
static char *parse_pieces(expfmt_format f, const char *in, int piece_lines, result *r) {
    memset(r, 0, sizeof *r);
    expfmt_parser *p = expfmt_new(f);
    size_t len = strlen(in), from = 0;
    while (from < len || from == 0) {
        size_t to = len;
        if (piece_lines > 0) {
            int lines = 0;
            for (to = from; to < len;)
                if (in[to++] == '\n' && ++lines == piece_lines) break;
        }
        /* A copy of exactly the piece, so a read past its end is caught by ASan. */
        char *piece = xmalloc(to - from + 1);
        memcpy(piece, in + from, to - from);
        expfmt_input(p, piece, to - from, to == len);
        expfmt_item it;
        expfmt_kind k;
        while ((k = expfmt_next(p, &it)) != EXPFMT_END) render_item(r, p, k, &it);
        free(piece);
        from = to;
        if (len == 0) break;
    }
    if (expfmt_finish(p)) buf_printf(&r->out, "F %s\n", expfmt_error(p));
    expfmt_free(p);
    buf_append(&r->out, "", 1);
    return (char *)r->out.data;
}

static void expect(expfmt_format f, const char *in, const char *want) {
    result r;
    char *got = parse_pieces(f, in, 0, &r);
    if (strcmp(got, want)) {
        fprintf(stderr, "input:\n%s\nwant:\n%s\ngot:\n%s\n", in, want, got);
        buf_free(&r.out);
        fail();
    }
    buf_free(&r.out);
}

/* The text format as Prometheus's documentation shows it: HELP/TYPE, labels
 * with blanks around them, optional timestamps, comments and blank lines. */
static void test_text_basic(void **state) {
    (void)state;
    expect(EXPFMT_TEXT,
           "# HELP http_requests_total The total number of HTTP requests.\n"
           "# TYPE http_requests_total counter\n"
           "http_requests_total{method=\"post\",code=\"200\"} 1027 1395066363000\n"
           "http_requests_total{ method = \"post\" , code = \"400\" , }    3   1395066363000  \n"
           "\n"
           "   \t\n"
           "# just a comment\n"
           "#HELP notmeta\n"
           "metric_without_timestamp_and_labels 12.47\n"
           "something_weird{problem=\"division by zero\"} +Inf -3982045\n"
           "empty{} 1\n"
           "  indented 2\n",
           "H http_requests_total The total number of HTTP requests.\n"
           "T http_requests_total 1\n"
           "S http_requests_total{method=post,code=200} 1027 1395066363000 t1\n"
           "S http_requests_total{method=post,code=400} 3 1395066363000 t1\n"
           "S metric_without_timestamp_and_labels{} 12.47 - t0\n"
           "S something_weird{problem=division by zero} +Inf -3982045 t0\n"
           "S empty{} 1 - t0\n"
           "S indented{} 2 - t0\n");
}

/* Escapes: \\ \" \n unescaped in label values (other pairs kept as written,
 * as Prometheus does); HELP unescapes \\ and \n only in the text format. */
static void test_escapes(void **state) {
    (void)state;
    expect(EXPFMT_TEXT,
           "# HELP m A \\\\ help\\n with \\\"quotes\\\"\n"
           "m{path=\"C:\\\\DIR\\\\F.TXT\",err=\"Cannot find:\\n\\\"F\\\"\",odd=\"a\\tb\"} 1\n",
           "H m A \\ help\n with \\\"quotes\\\"\n"
           "S m{path=C:\\DIR\\F.TXT,err=Cannot find:\n\"F\",odd=a\\tb} 1 - t0\n");
    expect(EXPFMT_OPENMETRICS, "# HELP m say \\\"hi\\\"\nm{a=\"\\\"\"} 1\n# EOF\n",
           "H m say \"hi\"\nS m{a=\"} 1 - t0\nEOF\n");
}

/* Value syntax is Go's ParseFloat without hex and '_'; NaN is Go's NaN. */
static void test_values(void **state) {
    (void)state;
    result r;
    char *got = parse_pieces(EXPFMT_TEXT,
                             "a 1\na -2.5e-3\na .5\na 5.\na +Inf\na -inf\na Inf\na infinity\na NaN\na nan\n"
                             "a -0\na 0\na 1e308\na 4.9406564584124654e-324\na 123456789012345678901234567890\n"
                             "a NaN:0x7ff0000000000002\na NaN:0xfff8000000000123\n",
                             0, &r);
    assert_null(strstr(got, "E "));
    assert_int_equal(r.nvalues, 17);
    double want[] = {1, -2.5e-3, .5, 5., INFINITY, -INFINITY, INFINITY, INFINITY};
    for (int i = 0; i < 8; i++) assert_memory_equal(&r.values[i], &want[i], 8);
    assert_true(r.values[8] == 0x7ff8000000000001ull && r.values[9] == 0x7ff8000000000001ull);
    assert_true(r.values[10] == 0x8000000000000000ull); /* -0 keeps its sign */
    assert_true(r.values[11] == 0);
    double big = 1e308, tiny = 4.9406564584124654e-324, huge = 123456789012345678901234567890.0;
    assert_memory_equal(&r.values[12], &big, 8);
    assert_memory_equal(&r.values[13], &tiny, 8);
    assert_memory_equal(&r.values[14], &huge, 8);
    assert_true(r.values[15] == 0x7ff0000000000002ull); /* the staleness marker */
    assert_true(r.values[16] == 0xfff8000000000123ull);
    buf_free(&r.out);

    expect(EXPFMT_TEXT, "a 0x10\nb 1_000\nc 1e400\nd 1.2.3\ne +nan\nf 0x1p3\ng NaN:0x7ff\nh NaN:0x3ff0000000000000\n",
           "E 1:3: invalid sample value \"0x10\"\n"
           "E 2:3: invalid sample value \"1_000\"\n"
           "E 3:3: invalid sample value \"1e400\"\n"
           "E 4:3: invalid sample value \"1.2.3\"\n"
           "E 5:3: invalid sample value \"+nan\"\n"
           "E 6:3: invalid sample value \"0x1p3\"\n"
           "E 7:3: invalid sample value \"NaN:0x7ff\"\n"
           "E 8:3: invalid sample value \"NaN:0x3ff0000000000000\"\n");
    /* The NaN-bits extension is promlite's dump format, text only. */
    expect(EXPFMT_OPENMETRICS, "a NaN:0x7ff0000000000002\n# EOF\n",
           "E 1:3: invalid sample value \"NaN:0x7ff0000000000002\"\nEOF\n");
}

/* Decimal strings of every shape convert exactly as strtod does (the fast
 * path must never differ from correct rounding). */
static void test_floats_match_strtod(void **state) {
    (void)state;
    expfmt_parser *p = expfmt_new(EXPFMT_TEXT);
    uint64_t x = 88172645463325252ull;
    char line[96], text[64];
    for (int i = 0; i < 300000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        double v;
        switch (i % 6) {
        case 0: memcpy(&v, &x, 8); if (isnan(v) || isinf(v)) continue; snprintf(text, sizeof text, "%.17g", v); break;
        case 1: snprintf(text, sizeof text, "%.6g", (double)(x % 100000000) / 1000.0); break;
        case 2: snprintf(text, sizeof text, "%llu.%02llu", (unsigned long long)(x % 10000000), (unsigned long long)(x >> 40) % 100); break;
        case 3: snprintf(text, sizeof text, "-%llue%d", (unsigned long long)(x % 1000000000000ull), (int)(x >> 50) % 60 - 30); break;
        case 4: snprintf(text, sizeof text, "0.%019llu", (unsigned long long)(x % 10000000000000000000ull)); break;
        default: snprintf(text, sizeof text, "%llu", (unsigned long long)(x >> (x & 63))); break;
        }
        int n = snprintf(line, sizeof line, "m %s\n", text);
        expfmt_input(p, line, (size_t)n, 1);
        expfmt_item it;
        expfmt_kind k = expfmt_next(p, &it);
        if (k != EXPFMT_SAMPLE) fail_msg("%s: %s", text, expfmt_error(p));
        double want = strtod(text, NULL);
        if (memcmp(&want, &it.sample.value, 8)) fail_msg("%s: got %.17g, strtod %.17g", text, it.sample.value, want);
        assert_int_equal(expfmt_next(p, &it), EXPFMT_END);
    }
    expfmt_free(p);
}

/* OpenMetrics: seconds timestamps (ms = int64(s*1000)), UNIT, exemplars
 * skipped, family types with their suffixes, "# EOF". */
static void test_openmetrics(void **state) {
    (void)state;
    expect(EXPFMT_OPENMETRICS,
           "# TYPE foo counter\n"
           "# HELP foo A counter.\n"
           "# UNIT foo seconds\n"
           "foo_total{a=\"b\"} 17.0 1520879607.789 # {trace_id=\"KOO5S4vxi0o\"} 0.67\n"
           "foo_created{a=\"b\"} 1520430000.123\n"
           "# TYPE h histogram\n"
           "h_bucket{le=\"+Inf\"} 17 # {id=\"x\"} 2.5 1520879607.7\n"
           "h_count 17 -1.5\n"
           "h_sum 3\n"
           "other 1\n"
           "# TYPE s summary\n"
           "s{quantile=\"0.5\"} 1\n"
           "s_count 2\n"
           "# TYPE i info\n"
           "i_info{v=\"1\"} 1\n"
           "# TYPE g gaugehistogram\n"
           "g_gcount 5\n"
           "# TYPE st stateset\n"
           "st{st=\"a\"} 1\n"
           "# TYPE u unknown\n"
           "u 1\n"
           "# EOF\n",
           "T foo 1\nH foo A counter.\nU foo seconds\n"
           "S foo_total{a=b} 17 1520879607789 t1\n"
           "S foo_created{a=b} 1.520430000123e+09 - t1\n"
           "T h 3\n"
           "S h_bucket{le=+Inf} 17 - t3\n"
           "S h_count{} 17 -1500 t3\n"
           "S h_sum{} 3 - t3\n"
           "S other{} 1 - t0\n"
           "T s 5\nS s{quantile=0.5} 1 - t5\nS s_count{} 2 - t5\n"
           "T i 6\nS i_info{v=1} 1 - t6\n"
           "T g 4\nS g_gcount{} 5 - t4\n"
           "T st 7\nS st{st=a} 1 - t7\n"
           "T u 0\nS u{} 1 - t0\n"
           "EOF\n");
    /* Timestamps convert as Prometheus does: truncation of s*1000. */
    expect(EXPFMT_OPENMETRICS, "a 1 1700000000.0005\nb 1 0.001\nc 1 -0.0019\n# EOF\n",
           "S a{} 1 1700000000000 t0\nS b{} 1 1 t0\nS c{} 1 -1 t0\nEOF\n");
}

/* OpenMetrics is strict where the text format is lenient: no blank lines,
 * no comments, single spaces, data after "# EOF", a missing "# EOF". */
static void test_openmetrics_errors(void **state) {
    (void)state;
    expect(EXPFMT_OPENMETRICS,
           "a 1\n"
           "\n"
           "# a comment\n"
           "b  2\n"
           "c{x=\"1\"}  2\n"
           "d 1 NaN\n"
           "e 1 1 # x\n"
           "f 1 1 trailing\n"
           "# TYPE f untyped\n"
           "# EOF\n"
           "g 1\n",
           "S a{} 1 - t0\n"
           "E 2:1: empty line (not allowed in OpenMetrics)\n"
           "E 3:3: invalid metadata line: expected HELP, TYPE, UNIT or EOF (OpenMetrics has no comments)\n"
           "E 4:3: missing sample value\n"
           "E 5:10: missing sample value\n"
           "E 6:5: invalid timestamp \"NaN\": expected seconds\n"
           "E 7:7: invalid exemplar: expected \"# {\"\n"
           "E 8:6: unexpected text after the timestamp\n"
           "E 9:10: invalid metric type \"untyped\"\n"
           "EOF\n"
           "E 11:1: unexpected data after \"# EOF\"\n");
    expect(EXPFMT_OPENMETRICS, "a 1\n", "S a{} 1 - t0\nF 2:1: unexpected end of input: OpenMetrics data must end with \"# EOF\"\n");
    expect(EXPFMT_OPENMETRICS, "a 1\n# EOF", "S a{} 1 - t0\nEOF\n");
}

/* Errors name line and column, and the next line parses normally. */
static void test_text_errors_and_recovery(void **state) {
    (void)state;
    expect(EXPFMT_TEXT,
           "ok 1\n"
           "m{a=\"1\",a=\"2\"} 1\n"
           "m{a=1} 1\n"
           "m{\"a\"=\"1\"} 1\n"
           "1m 1\n"
           "m{a=\"unterminated} 1\n"
           "m{a=\"\xff\xfe\"} 1\n"
           "m{__name__=\"x\"} 1\n"
           "m{a \"1\"} 1\n"
           "m{a=\"1\" b=\"2\"} 1\n"
           "m\n"
           "m 1 12x\n"
           "m 1 99999999999999999999\n"
           "m 1 2 3\n"
           "m-x 1\n"
           "# TYPE m bogus\n"
           "# TYPE m counter extra\n"
           "# HELP 9m help\n"
           "ok 2\n",
           "S ok{} 1 - t0\n"
           "E 2:9: duplicate label name \"a\"\n"
           "E 3:5: expected '\"' to start the value of label \"a\"\n"
           "E 4:3: invalid label name: expected [a-zA-Z_][a-zA-Z0-9_]* or '}'\n"
           "E 5:1: invalid metric name \"1m\": expected [a-zA-Z_:][a-zA-Z0-9_:]*\n"
           "E 6:5: unterminated value of label \"a\"\n"
           "E 7:6: invalid UTF-8 in the value of label \"a\"\n"
           "E 8:3: label name \"__name__\" not allowed here: the metric name comes before '{'\n"
           "E 9:5: expected '=' after label name \"a\"\n"
           "E 10:9: expected ',' or '}' after a label value\n"
           "E 11:2: missing sample value\n"
           "E 12:5: invalid timestamp \"12x\": expected integer milliseconds\n"
           "E 13:5: invalid timestamp \"99999999999999999999\": expected integer milliseconds\n"
           "E 14:7: unexpected text after the timestamp\n"
           "E 15:2: invalid character in metric name\n"
           "E 16:10: invalid metric type \"bogus\"\n"
           "E 17:18: unexpected text after the metric type\n"
           "E 18:8: invalid metric name in HELP line\n"
           "S ok{} 2 - t0\n");
}

/* The series text spans the name through '}', and labels keep input order;
 * a repeated label set (the parser's fast path) gives the same items. */
static void test_series_text_and_repeats(void **state) {
    (void)state;
    expfmt_parser *p = expfmt_new(EXPFMT_TEXT);
    const char *in = "m{b=\"2\",a=\"1\"} 1 10\nm{b=\"2\",a=\"1\"} 2 20\nm{b=\"2\",a=\"1\"}x 3\nm 3 30\n"
                     "m{b=\"2\",a=\"1\"} 4 40\n";
    expfmt_input(p, in, strlen(in), 1);
    expfmt_item it;
    for (int i = 0; i < 2; i++) {
        assert_int_equal(expfmt_next(p, &it), EXPFMT_SAMPLE);
        assert_int_equal(it.sample.series_len, strlen("m{b=\"2\",a=\"1\"}"));
        assert_memory_equal(it.sample.series, "m{b=\"2\",a=\"1\"}", it.sample.series_len);
        assert_int_equal(it.sample.nlabels, 2);
        assert_memory_equal(it.sample.labels[0].name, "b", 1);
        assert_memory_equal(it.sample.labels[1].value, "1", 1);
        assert_true(it.sample.labels[1].value > it.sample.series); /* points into this line */
        assert_int_equal(it.sample.timestamp_ms, 10 * (i + 1));
        assert_int_equal(it.line, (uint64_t)i + 1);
    }
    assert_int_equal(expfmt_next(p, &it), EXPFMT_ERROR);
    assert_string_equal(expfmt_error(p), "3:15: invalid sample value \"x\"");
    assert_int_equal(expfmt_next(p, &it), EXPFMT_SAMPLE);
    assert_int_equal(it.sample.series_len, 1);
    assert_int_equal(it.sample.nlabels, 0);
    assert_int_equal(expfmt_next(p, &it), EXPFMT_SAMPLE);
    assert_int_equal(it.sample.nlabels, 2);
    assert_int_equal(it.line, 5);
    assert_int_equal(expfmt_next(p, &it), EXPFMT_END);
    expfmt_free(p);
}

/* Parses in with, before each sample line, the expectation that the line
 * holds series[i] (the i-th sample's series text, NULL for none); renders
 * each item without labels, the expected flag first. */
static char *parse_expecting(expfmt_format f, const char *in, const char *const *series, size_t nseries) {
    expfmt_parser *p = expfmt_new(f);
    expfmt_input(p, in, strlen(in), 1);
    buf out = {0};
    expfmt_item it;
    expfmt_kind k;
    size_t i = 0;
    for (;;) {
        if (i < nseries && series[i]) expfmt_expect(p, series[i], strlen(series[i]));
        if ((k = expfmt_next(p, &it)) == EXPFMT_END) break;
        char v[FLOAT_TEXT_MAX];
        if (k == EXPFMT_SAMPLE) {
            const expfmt_sample *s = &it.sample;
            buf_printf(&out, "%c %.*s|%.*s %s %lld t%d\n", s->expected ? '+' : '-', (int)s->metric_len, s->metric,
                       (int)s->series_len, s->series, format_float(s->value, v),
                       s->has_timestamp ? (long long)s->timestamp_ms : -1LL, (int)s->type);
            if (s->expected) assert_int_equal(s->nlabels, 0);
            i++;
        } else if (k == EXPFMT_ERROR) {
            buf_printf(&out, "E %s\n", expfmt_error(p));
            i++;
        } else {
            buf_printf(&out, "K %d\n", (int)k);
        }
    }
    buf_append(&out, "", 1);
    expfmt_free(p);
    return (char *)out.data;
}

/* with (from parse_expecting) is what a parse without expectations gives,
 * but for the expected flags.  Frees with. */
static void assert_same_as_full_parse(expfmt_format f, const char *in, char *with) {
    char *without = parse_expecting(f, in, NULL, 0);
    for (char *c = with; *c; c++)
        if (*c == '+') *c = '-';
    assert_string_equal(with, without);
    free(with);
    free(without);
}

/* With each line's own series text expected, the parser skips the labels
 * and finds the same metric, value, timestamp, type and errors as a full
 * parse; a text that only starts the line, or would stand for another
 * series, is not taken. */
static void test_expected_series(void **state) {
    (void)state;
    const char *in = "# TYPE m counter\n"
                     "m{a=\"1\",b=\"x\\\"y\"} 5 100\n"
                     "m {a=\"2\"} 6\n"
                     "up 1\n"
                     "up {a=\"1\"} 2\n"
                     "up_x 3\n"
                     "m{a=\"1\",b=\"x\\\"y\"} oops\n"
                     "m{a=\"3\"}\t7\n";
    const char *own[] = {"m{a=\"1\",b=\"x\\\"y\"}", "m {a=\"2\"}", "up", NULL, NULL,
                         "m{a=\"1\",b=\"x\\\"y\"}", "m{a=\"3\"}"};
    char *with = parse_expecting(EXPFMT_TEXT, in, own, 7);
    assert_string_equal(with, "K 3\n"
                              "+ m|m{a=\"1\",b=\"x\\\"y\"} 5 100 t1\n"
                              "+ m|m {a=\"2\"} 6 -1 t1\n"
                              "+ up|up 1 -1 t0\n"
                              "- up|up {a=\"1\"} 2 -1 t0\n"
                              "- up_x|up_x 3 -1 t0\n"
                              "E 7:19: invalid sample value \"oops\"\n"
                              "+ m|m{a=\"3\"} 7 -1 t1\n");
    assert_same_as_full_parse(EXPFMT_TEXT, in, with);

    /* "up" is not the series of "up {a=...}" nor of "up_x", and a prefix
     * of a label set is not the label set. */
    const char *wrong[] = {"up", "up", "m{a=\"1\"", "m{a=\"1\"}"};
    char *w = parse_expecting(EXPFMT_TEXT, "up {a=\"1\"} 2\nup_x 3\nm{a=\"1\",b=\"2\"} 4\nm{a=\"1\"}x 5\n", wrong, 4);
    assert_string_equal(w, "- up|up {a=\"1\"} 2 -1 t0\n"
                           "- up_x|up_x 3 -1 t0\n"
                           "- m|m{a=\"1\",b=\"2\"} 4 -1 t0\n"
                           "E 4:9: invalid sample value \"x\"\n");
    free(w);

    /* OpenMetrics: a single space must follow; errors stay those of a full
     * parse.  An expectation is for one sample line only. */
    const char *om = "# TYPE g gauge\ng{a=\"1\"} 1.5 2.5\n# HELP g help\ng{a=\"1\"} 2\ng{a=\"1\"}  3\n# EOF\n";
    const char *oms[] = {"g{a=\"1\"}", NULL, "g{a=\"1\"}"};
    char *o = parse_expecting(EXPFMT_OPENMETRICS, om, oms, 3);
    assert_string_equal(o, "K 3\n"
                           "+ g|g{a=\"1\"} 1.5 2500 t2\n"
                           "K 2\n"
                           "- g|g{a=\"1\"} 2 -1 t2\n"
                           "E 5:10: missing sample value\n"
                           "K 5\n");
    assert_same_as_full_parse(EXPFMT_OPENMETRICS, om, o);
}

/* Cut into pieces of any number of lines, the input parses exactly as in
 * one piece (line numbers continue across pieces). */
static void test_pieces(void **state) {
    (void)state;
    const char *in = "# TYPE a gauge\na{x=\"1\"} 1 1\na{x=\"1\"} 2 2\nbad line\na{x=\"\\\\\"} 3 3\na{x=\"\\\\\"} 4 4\nb 5 5\n";
    result whole, part;
    char *w = parse_pieces(EXPFMT_TEXT, in, 0, &whole);
    for (int lines = 1; lines <= 4; lines++) {
        char *g = parse_pieces(EXPFMT_TEXT, in, lines, &part);
        assert_string_equal(g, w);
        buf_free(&part.out);
    }
    assert_non_null(strstr(w, "E 4:5: invalid sample value \"line\""));
    buf_free(&whole.out);
}

/* A large generated input parses completely, each line once. */
static void test_large_input(void **state) {
    (void)state;
    buf in = {0};
    for (int i = 0; i < 100000; i++)
        buf_printf(&in, "node_cpu_seconds_total{cpu=\"%d\",mode=\"idle\",instance=\"h-%d:9100\"} %d.%02d %d\n", i % 8,
                   i / 800, i, i % 100, 1700000000 + (i % 800) * 15);
    buf_printf(&in, "# EOF\n");
    expfmt_parser *p = expfmt_new(EXPFMT_OPENMETRICS);
    expfmt_input(p, (const char *)in.data, in.len, 1);
    expfmt_item it;
    expfmt_kind k;
    long samples = 0, eof = 0;
    double sum = 0;
    while ((k = expfmt_next(p, &it)) != EXPFMT_END) {
        assert_int_not_equal(k, EXPFMT_ERROR);
        if (k == EXPFMT_SAMPLE) samples++, sum += it.sample.value;
        if (k == EXPFMT_EOF) eof++;
    }
    assert_int_equal(samples, 100000);
    assert_int_equal(eof, 1);
    assert_int_equal(expfmt_finish(p), 0);
    double want = 0;
    for (int i = 0; i < 100000; i++) want += i + (i % 100) / 100.0;
    assert_true(fabs(sum - want) < 1e-3);
    expfmt_free(p);
    buf_free(&in);
}

/* A reset parser parses as a new one does, whatever the body before it
 * left behind (an error mid-line, a family, the previous label set, the
 * other format). */
static void test_reset(void **state) {
    (void)state;
    static const char *const bodies[][2] = {
        {"# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"1\",y=\"2\"} 3 1000\nbad {{\n", "t"},
        {"# TYPE g gauge\n# UNIT g seconds\ng_seconds 1\ng{x=\"1\"} 2\n# EOF\n", "o"},
        {"a_total{x=\"1\",y=\"2\"} 4\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\n", "t"},
        {"no_eof 1\n", "o"},
    };
    expfmt_parser *reused = expfmt_new(EXPFMT_TEXT);
    for (int round = 0; round < 2; round++)
        for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
            expfmt_format f = bodies[i][1][0] == 'o' ? EXPFMT_OPENMETRICS : EXPFMT_TEXT;
            result fresh, again;
            char *want = parse_pieces(f, bodies[i][0], 0, &fresh);
            memset(&again, 0, sizeof again);
            expfmt_reset(reused, f);
            expfmt_input(reused, bodies[i][0], strlen(bodies[i][0]), 1);
            expfmt_item it;
            expfmt_kind k;
            while ((k = expfmt_next(reused, &it)) != EXPFMT_END) render_item(&again, reused, k, &it);
            if (expfmt_finish(reused)) buf_printf(&again.out, "F %s\n", expfmt_error(reused));
            buf_append(&again.out, "", 1);
            assert_string_equal((char *)again.out.data, want);
            buf_free(&fresh.out);
            buf_free(&again.out);
        }
    expfmt_free(reused);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_basic),
        cmocka_unit_test(test_escapes),
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_floats_match_strtod),
        cmocka_unit_test(test_openmetrics),
        cmocka_unit_test(test_openmetrics_errors),
        cmocka_unit_test(test_text_errors_and_recovery),
        cmocka_unit_test(test_series_text_and_repeats),
        cmocka_unit_test(test_expected_series),
        cmocka_unit_test(test_pieces),
        cmocka_unit_test(test_large_input),
        cmocka_unit_test(test_reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
