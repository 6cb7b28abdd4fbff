/*
 * fuzz_promql.c - libFuzzer target for the PromQL parser (query/).
 *
 * The input is a query.  It is copied into a buffer of its exact size (no
 * NUL terminator), so AddressSanitizer catches any read past its end.  The
 * target checks the parser's promises and traps when one is broken:
 *   - an error message has the form "LINE:COL: parse error: MESSAGE";
 *   - a tree formats to text that parses again, and that second tree
 *     formats to exactly the same text (pq_format is canonical);
 *   - every node's byte range lies within the input;
 *   - pq_explain() runs on every tree.
 * LeakSanitizer checks that the arena releases everything, regexes too.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "query/parser.h"

static void check_error(const char *msg) {
    const char *p = msg;
    if (*p < '1' || *p > '9') __builtin_trap();
    while (*p >= '0' && *p <= '9') p++;
    if (*p++ != ':') __builtin_trap();
    if (*p < '1' || *p > '9') __builtin_trap();
    while (*p >= '0' && *p <= '9') p++;
    if (strncmp(p, ": parse error: ", 15) != 0 || !p[15]) __builtin_trap();
}

/* Node ranges lie within the text and children within their parents'
 * text (ranges may be empty only for nothing). */
static void check_positions(const pq_node *n, size_t len) {
    if (n->pos.start > n->pos.end || n->pos.end > len) __builtin_trap();
    switch (n->kind) {
    case PQ_SUBQUERY: check_positions(n->u.subquery.expr, len); break;
    case PQ_CALL:
        for (size_t i = 0; i < n->u.call.nargs; i++) check_positions(n->u.call.args[i], len);
        break;
    case PQ_AGGREGATE:
        if (n->u.agg.param) check_positions(n->u.agg.param, len);
        check_positions(n->u.agg.expr, len);
        break;
    case PQ_BINARY:
        check_positions(n->u.binary.lhs, len);
        check_positions(n->u.binary.rhs, len);
        break;
    case PQ_UNARY: check_positions(n->u.unary.expr, len); break;
    case PQ_PAREN: check_positions(n->u.paren.expr, len); break;
    default: break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 4096) return 0;
    char *q = malloc(size ? size : 1);
    if (!q) return 0;
    memcpy(q, data, size);
    pq_arena *a = pq_arena_new();
    errbuf err;
    pq_node *n = pq_parse(a, q, size, &err);
    if (!n) {
        check_error(err.msg);
    } else {
        check_positions(n, size);
        buf first = {0}, second = {0}, dump = {0};
        pq_format(n, &first);
        pq_explain(n, &dump);
        pq_node *again = pq_parse(a, (const char *)first.data, first.len, &err);
        if (!again) __builtin_trap();
        pq_format(again, &second);
        if (first.len != second.len || memcmp(first.data, second.data, first.len) != 0) __builtin_trap();
        buf_free(&first);
        buf_free(&second);
        buf_free(&dump);
    }
    pq_arena_free(a);
    free(q);
    return 0;
}
