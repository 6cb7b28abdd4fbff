/*
 * fuzz_expfmt.c - libFuzzer target for the exposition parser (ingest/).
 *
 * The first byte picks the format (even: text 0.0.4, odd: OpenMetrics) and
 * how the rest is cut into pieces: the parser's contract is that every piece
 * but the last ends just after a '\n', so the input is split at up to two
 * newlines chosen from that byte.  Each piece is copied into a buffer of its
 * exact size, so AddressSanitizer catches any read past its end.
 *
 * Besides memory errors, the target checks the parser's promises and traps
 * when one is broken: items point into the current piece (or the parser's
 * scratch), values are valid UTF-8, line numbers never go back, and every
 * error message starts with "LINE:COL: ".
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/labels.h"
#include "ingest/expfmt.h"

static void check_error(const char *msg) {
    const char *p = msg;
    if (*p < '1' || *p > '9') __builtin_trap();
    while (*p >= '0' && *p <= '9') p++;
    if (*p++ != ':') __builtin_trap();
    if (*p < '1' || *p > '9') __builtin_trap();
    while (*p >= '0' && *p <= '9') p++;
    if (p[0] != ':' || p[1] != ' ' || !p[2]) __builtin_trap();
}

/* Pulls every item of the current piece and checks it. */
static void drain(expfmt_parser *p, const char *piece, size_t len, uint64_t *last_line) {
    expfmt_item it;
    for (;;) {
        expfmt_kind k = expfmt_next(p, &it);
        if (k == EXPFMT_END) return;
        if (k == EXPFMT_ERROR) {
            check_error(expfmt_error(p));
            continue;
        }
        if (it.line < *last_line) __builtin_trap();
        *last_line = it.line;
        if (k == EXPFMT_SAMPLE) {
            const expfmt_sample *s = &it.sample;
            if (s->metric < piece || s->metric + s->metric_len > piece + len) __builtin_trap();
            if (s->series != s->metric || s->series_len < s->metric_len) __builtin_trap();
            if (!metric_name_valid(s->metric, s->metric_len)) __builtin_trap();
            for (size_t i = 0; i < s->nlabels; i++) {
                const expfmt_label *l = &s->labels[i];
                if (!label_name_valid(l->name, l->name_len)) __builtin_trap();
                if (l->value_len && !l->value) __builtin_trap();
                if (!utf8_valid(l->value, l->value_len)) __builtin_trap();
            }
        } else if (k == EXPFMT_HELP || k == EXPFMT_TYPE || k == EXPFMT_UNIT) {
            if (!metric_name_valid(it.meta.name, it.meta.name_len)) __builtin_trap();
            if (it.meta.text_len && !utf8_valid(it.meta.text, it.meta.text_len)) __builtin_trap();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    uint8_t ctl = data[0];
    const char *in = (const char *)data + 1;
    size_t n = size - 1;
    expfmt_parser *p = expfmt_new(ctl & 1 ? EXPFMT_OPENMETRICS : EXPFMT_TEXT);
    if (!p) return 0;
    /* Cut points: after the (ctl>>1 & 7)-th and (ctl>>4)-th newline. */
    size_t cuts[3], ncuts = 0, nl_seen = 0;
    unsigned want1 = (ctl >> 1) & 7, want2 = want1 + (ctl >> 4);
    for (size_t i = 0; i < n && ncuts < 2; i++) {
        if (in[i] != '\n') continue;
        nl_seen++;
        if (nl_seen == want1 || nl_seen == want2) cuts[ncuts++] = i + 1;
    }
    cuts[ncuts++] = n;
    size_t from = 0;
    uint64_t last_line = 0;
    for (size_t c = 0; c < ncuts; c++) {
        size_t len = cuts[c] - from;
        char *piece = malloc(len ? len : 1);
        if (!piece) break;
        memcpy(piece, in + from, len);
        expfmt_input(p, piece, len, c == ncuts - 1);
        drain(p, piece, len, &last_line);
        free(piece);
        from = cuts[c];
    }
    if (expfmt_finish(p)) check_error(expfmt_error(p));
    expfmt_free(p);
    return 0;
}
