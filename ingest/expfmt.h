/*
 * expfmt.h - streaming parser for the Prometheus text exposition format
 * (0.0.4) and OpenMetrics 1.0 text.
 *
 * The caller feeds the input in pieces that end at a line boundary (the last
 * piece may end without a newline) and pulls items one at a time.  Nothing is
 * copied unless it must be: metric names and the raw series text point into
 * the caller's buffer; label values are pointed to directly when they hold no
 * escape sequence and are unescaped into parser-owned scratch otherwise.
 *
 * Ownership: every pointer in an expfmt_item is valid until the next call to
 * expfmt_next() or expfmt_input(), and only while the caller's piece of input
 * is alive.  The parser owns its scratch memory; expfmt_free() releases it.
 *
 * Threads: a parser is used by one thread at a time; distinct parsers are
 * independent (no global state).
 */
#ifndef PROMLITE_EXPFMT_H
#define PROMLITE_EXPFMT_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    EXPFMT_TEXT = 0,        /* Prometheus text format 0.0.4 (timestamps in ms) */
    EXPFMT_OPENMETRICS = 1  /* OpenMetrics 1.0 text (timestamps in seconds)   */
} expfmt_format;

/* Metric family types.  Text 0.0.4 "untyped" and OpenMetrics "unknown" map to
 * EXPFMT_TYPE_UNKNOWN. */
typedef enum {
    EXPFMT_TYPE_UNKNOWN = 0,
    EXPFMT_TYPE_COUNTER,
    EXPFMT_TYPE_GAUGE,
    EXPFMT_TYPE_HISTOGRAM,
    EXPFMT_TYPE_GAUGEHISTOGRAM,
    EXPFMT_TYPE_SUMMARY,
    EXPFMT_TYPE_INFO,
    EXPFMT_TYPE_STATESET
} expfmt_type;

typedef enum {
    EXPFMT_ERROR = -1,      /* see expfmt_error()                              */
    EXPFMT_END = 0,         /* this piece of input is consumed                 */
    EXPFMT_SAMPLE = 1,      /* item.sample is set                              */
    EXPFMT_HELP = 2,        /* item.meta: metric family name and help text     */
    EXPFMT_TYPE = 3,        /* item.meta: family name and item.meta.type       */
    EXPFMT_UNIT = 4,        /* item.meta: family name and unit text            */
    EXPFMT_EOF = 5          /* OpenMetrics "# EOF" seen; later input is an error */
} expfmt_kind;

typedef struct {
    const char *name;  size_t name_len;
    const char *value; size_t value_len;   /* unescaped, valid UTF-8 */
} expfmt_label;

typedef struct {
    const char *metric;  size_t metric_len;  /* metric name as written          */
    const char *series;  size_t series_len;  /* raw text from the metric name to
                                                the end of the label set ("}"
                                                included), for callers that cache
                                                series by their text             */
    const expfmt_label *labels; size_t nlabels; /* in input order, no __name__  */
    double value;                             /* bit-exact as parsed, NaN/Inf ok */
    int has_timestamp;
    int64_t timestamp_ms;                     /* OpenMetrics seconds -> ms as
                                                 Prometheus does: (int64)(s*1000) */
    expfmt_type type;                         /* type of the current family      */
    int expected;                             /* the series was the expected one
                                                 (expfmt_expect): labels is not
                                                 set, nlabels is 0               */
} expfmt_sample;

typedef struct {
    const char *name; size_t name_len;        /* metric family name              */
    const char *text; size_t text_len;        /* HELP text unescaped, or UNIT    */
    expfmt_type type;                         /* for EXPFMT_TYPE                 */
} expfmt_meta;

typedef struct {
    expfmt_kind kind;
    expfmt_sample sample;
    expfmt_meta meta;
    uint64_t line;                            /* 1-based line of this item       */
} expfmt_item;

typedef struct expfmt_parser expfmt_parser;

/* Creates a parser.  Returns NULL only when out of memory. */
expfmt_parser *expfmt_new(expfmt_format format);
void expfmt_free(expfmt_parser *p);

/* Makes p as expfmt_new(format) makes a parser, keeping the memory it has
 * grown: a caller that parses one body after another (the scrape loop)
 * allocates nothing once the buffers fit. */
void expfmt_reset(expfmt_parser *p, expfmt_format format);

/* Hands the parser the next piece of input.  buf[0..len) must end just after a
 * '\n' unless is_last is set.  Line and column numbers continue across pieces.
 * The buffer is borrowed, not copied: keep it alive while pulling items. */
void expfmt_input(expfmt_parser *p, const char *buf, size_t len, int is_last);

/* Tells the parser the series text the next sample line is likely to
 * start with: the text of a sample parsed from an earlier input (a scrape
 * cache's prediction; len 0 clears it).  When the line does start with it,
 * followed by what may follow a series, the name and labels are not parsed
 * again: the same bytes were valid before and mean the same.  The sample
 * then has expected set and no labels.  The text is borrowed until the next
 * call to expfmt_expect() or expfmt_next(); the expectation stays until a
 * sample line is parsed.  The caller must have parsed the text in this
 * parser's format: the formats accept different texts. */
void expfmt_expect(expfmt_parser *p, const char *series, size_t len);

/* Pulls the next item into *item.  Returns its kind: EXPFMT_END when the piece
 * is consumed (feed the next one), EXPFMT_ERROR on a syntax or validity error.
 * After an error the parser skips to the next line, so the caller may go on
 * (a scrape stops at the first error; an import may count and continue). */
expfmt_kind expfmt_next(expfmt_parser *p, expfmt_item *item);

/* The last error as "LINE:COL: reason" (e.g. "12:31: invalid escape sequence
 * in label value").  Owned by the parser, valid until the next call. */
const char *expfmt_error(const expfmt_parser *p);

/* After the last piece: returns 0, or -1 with expfmt_error() set when the
 * input is incomplete (OpenMetrics without "# EOF"). */
int expfmt_finish(expfmt_parser *p);

#endif
