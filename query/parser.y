/*
 * parser.y - the PromQL grammar (bison), the tree builders and the type
 * checker.  API, ownership and threads: parser.h.
 *
 * DESIGN
 *
 * The grammar is Prometheus 2.x's own (promql/parser/generated_parser.y)
 * restricted to expressions: the same productions, the same precedence
 * declarations and, importantly, the same `error` productions, because
 * Prometheus's syntax-error messages come from them ("unexpected X in
 * grouping opts, expected label"): when the LALR automaton hits a token it
 * cannot shift, it pops states until one that can shift `error`, and that
 * rule's action names the context.  The offending token is always the one
 * the lexer produced last (pq_pstate.last), exactly as Prometheus uses its
 * lexer's last item.  yyerror() itself is silent except for stack
 * exhaustion.
 *
 * Errors: only the first error is kept (Prometheus reports only its first
 * one too).  Once an error is recorded, actions stop building nodes (they
 * yield NULL), so the error-recovery runs of the automaton never touch a
 * half-built tree.
 *
 * Checks happen in the same two places as in Prometheus: structural ones in
 * the actions (unknown function, ranges only on selectors, offset/@ rules,
 * aggregation argument counts, durations, numbers, regexes), then, when the
 * parse succeeded, check_ast() walks the tree in Prometheus's checkAST
 * order, sets every node's type and reports the first type error.  Keeping
 * that order is what makes the first error the same one Prometheus prints.
 *
 * Pure and reentrant: all state lives in a pq_pstate on pq_parse()'s stack
 * and in the arena; the lexer (lexer.re) gets the same pq_pstate.
 */

%code requires {
#include <stddef.h>
#include <stdint.h>

#include "query/ast.h"

/* A token: its byte offset and length in the query text. */
typedef struct { uint32_t pos, len; } pq_tok;

/* A growable array in the arena (label names, arguments, matchers). */
typedef struct { void **items; size_t n, cap; } pq_list;

typedef struct { uint32_t start, end; } pq_yyltype;
#define PQ_YYLTYPE pq_yyltype
#define PQ_YYLTYPE_IS_DECLARED 1

/* The whole state of one parse, shared by the lexer and the parser. */
typedef struct pq_pstate {
    pq_arena *arena;
    const char *text;
    uint32_t len;
    errbuf *err;
    int failed;               /* an error is recorded in err               */
    pq_node *result;
    /* lexer state, mirroring Prometheus's lexer (lex.go) */
    uint32_t pos;             /* cursor                                    */
    uint32_t start;           /* start of the token being scanned          */
    int paren_depth;
    int brace_open, bracket_open, got_colon;
    int want_duration;        /* just after '[': a duration must follow    */
    int done;                 /* EOF or a lexer error was returned         */
    int last_kind;            /* the last token returned, for messages     */
    pq_tok last;
} pq_pstate;

void pq_error_at(pq_pstate *ps, uint32_t pos, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
}

%code provides {
int pq_yylex(PQ_YYSTYPE *lval, PQ_YYLTYPE *lloc, pq_pstate *ps);
/* Appends the Go %q quoting of s to out (also used by the printer). */
void pq_go_quote(buf *out, const char *s, size_t len);
/* Prometheus's model.Duration formatting ("1h30m", "2w", "8d"). */
void pq_format_duration(buf *out, int64_t ms);
}

%code {
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/timeutil.h"
#include "query/parser.h"

#define YYLLOC_DEFAULT(Cur, Rhs, N)                                  \
    do {                                                             \
        if (N) {                                                     \
            (Cur).start = YYRHSLOC(Rhs, 1).start;                    \
            (Cur).end = YYRHSLOC(Rhs, N).end;                        \
        } else {                                                     \
            (Cur).start = (Cur).end = YYRHSLOC(Rhs, 0).end;          \
        }                                                            \
    } while (0)

static void pq_yyerror(PQ_YYLTYPE *loc, pq_pstate *ps, const char *msg);
static void unexpected(pq_pstate *ps, const char *context, const char *expected);
static pq_list *list_new(pq_pstate *ps);
static pq_list *list_push(pq_pstate *ps, pq_list *l, void *item);
static pq_node *node_new(pq_pstate *ps, pq_kind kind, uint32_t start, uint32_t end);
static pq_node *new_binary(pq_pstate *ps, pq_node *lhs, pq_binop op, pq_node *mod, pq_node *rhs);
static pq_node *new_aggregate(pq_pstate *ps, pq_tok op, pq_node *mod, pq_list *args, PQ_YYLTYPE loc);
static pq_node *new_call(pq_pstate *ps, pq_tok name, pq_list *args, PQ_YYLTYPE loc);
static pq_node *new_unary(pq_pstate *ps, int minus, uint32_t op_pos, pq_node *e);
static pq_node *new_selector(pq_pstate *ps, pq_tok *name, pq_list *matchers, PQ_YYLTYPE loc);
static pq_node *new_matrix(pq_pstate *ps, pq_node *e, int64_t range, PQ_YYLTYPE lb, PQ_YYLTYPE rb);
static pq_node *new_subquery(pq_pstate *ps, pq_node *e, int64_t range, int64_t step, uint32_t end);
static matcher *new_matcher(pq_pstate *ps, pq_tok name, int op, pq_tok value);
static void add_offset(pq_pstate *ps, pq_node *e, int64_t off, uint32_t end);
static void set_at(pq_pstate *ps, pq_node *e, int kind, double ts, uint32_t end);
static double parse_number(pq_pstate *ps, pq_tok t);
static int64_t parse_dur(pq_pstate *ps, pq_tok t);
static const char *label_name(pq_pstate *ps, pq_tok t, int check);
static pq_node *holder_binary(pq_pstate *ps, int return_bool);
static pq_node *new_string(pq_pstate *ps, pq_tok t);

#define FAILED (ps->failed)
#define TOKTEXT(t) (ps->text + (t).pos)
}

%define api.pure full
%define api.prefix {pq_yy}
%locations
%parse-param {pq_pstate *ps}
%lex-param {pq_pstate *ps}

%union {
    pq_tok tok;
    pq_node *node;
    pq_list *list;
    matcher *match;
    double number;
    int64_t duration;
}

%token <tok> EQL COLON COMMA T_EOF IDENTIFIER LEFT_BRACE LEFT_BRACKET LEFT_PAREN
%token <tok> METRIC_IDENTIFIER NUMBER RIGHT_BRACE RIGHT_BRACKET RIGHT_PAREN STRING DURATION
/* operators */
%token <tok> ADD DIV EQLC EQL_REGEX GTE GTR LAND LOR LSS LTE LUNLESS MOD MUL NEQ NEQ_REGEX POW SUB AT ATAN2
/* aggregators */
%token <tok> AVG BOTTOMK COUNT COUNT_VALUES GROUP MAX MIN QUANTILE STDDEV STDVAR SUM TOPK
/* keywords */
%token <tok> BOOL BY GROUP_LEFT GROUP_RIGHT IGNORING OFFSET ON WITHOUT START END

%type <list> grouping_label_list grouping_labels maybe_grouping_labels function_call_body
%type <list> function_call_args label_match_list label_matchers
%type <match> label_matcher
%type <tok> aggregate_op grouping_label maybe_label match_op metric_identifier unary_op
%type <tok> at_modifier_preprocessors
%type <number> number signed_number signed_or_unsigned_number
%type <duration> duration maybe_duration
%type <node> expr aggregate_expr aggregate_modifier bin_modifier binary_expr bool_modifier
%type <node> function_call group_modifiers matrix_selector number_literal offset_expr
%type <node> on_or_ignoring paren_expr string_literal subquery_expr unary_expr vector_selector
%type <node> step_invariant_expr

%start start

/* Operators are listed with increasing precedence (Prometheus's table). */
%left LOR
%left LAND LUNLESS
%left EQLC GTE GTR LSS LTE NEQ
%left ADD SUB
%left MUL DIV MOD ATAN2
%right POW
/* Offset modifiers do not have associativity.  Prometheus leaves AT
 * undeclared and lets yacc shift; declaring it here resolves the same
 * conflicts the same way (shift), without warnings. */
%precedence OFFSET AT
/* Always try to parse a range or subquery when '[' follows. */
%precedence LEFT_BRACKET

%expect 2   /* group_x followed by "(": shift, reading the label list, as Prometheus */

%%

start:
      expr                      { ps->result = $1; }
    | T_EOF                     { pq_error_at(ps, 0, "no expression found in input"); }
    | start T_EOF
    | error                     { unexpected(ps, "", ""); }
    ;

expr:
      aggregate_expr | binary_expr | function_call | matrix_selector | number_literal
    | offset_expr | paren_expr | string_literal | subquery_expr | unary_expr
    | vector_selector | step_invariant_expr
    ;

/* ---------------------------------------------------------------- aggregations */

aggregate_expr:
      aggregate_op aggregate_modifier function_call_body { $$ = new_aggregate(ps, $1, $2, $3, @$); }
    | aggregate_op function_call_body aggregate_modifier { $$ = new_aggregate(ps, $1, $3, $2, @$); }
    | aggregate_op function_call_body                    { $$ = new_aggregate(ps, $1, NULL, $2, @$); }
    | aggregate_op error                                 { unexpected(ps, "aggregation", ""); $$ = NULL; }
    ;

aggregate_modifier:
      BY grouping_labels
        {
            $$ = NULL;
            if (!FAILED) {
                $$ = node_new(ps, PQ_AGGREGATE, @1.start, @$.end);
                $$->u.agg.has_grouping = 1;
                $$->u.agg.grouping.names = (const char **)$2->items;
                $$->u.agg.grouping.n = $2->n;
            }
        }
    | WITHOUT grouping_labels
        {
            $$ = NULL;
            if (!FAILED) {
                $$ = node_new(ps, PQ_AGGREGATE, @1.start, @$.end);
                $$->u.agg.has_grouping = 1;
                $$->u.agg.without = 1;
                $$->u.agg.grouping.names = (const char **)$2->items;
                $$->u.agg.grouping.n = $2->n;
            }
        }
    ;

/* ---------------------------------------------------------------- binary expressions */

binary_expr:
      expr ADD     bin_modifier expr { $$ = new_binary(ps, $1, PQ_OP_ADD, $3, $4); }
    | expr ATAN2   bin_modifier expr { $$ = new_binary(ps, $1, PQ_OP_ATAN2, $3, $4); }
    | expr DIV     bin_modifier expr { $$ = new_binary(ps, $1, PQ_OP_DIV, $3, $4); }
    | expr EQLC    bin_modifier expr { $$ = new_binary(ps, $1, PQ_OP_EQ, $3, $4); }
    | expr GTE     bin_modifier expr { $$ = new_binary(ps, $1, PQ_OP_GE, $3, $4); }
    | expr GTR     bin_modifier expr { $$ = new_binary(ps, $1, PQ_OP_GT, $3, $4); }
    | expr LAND    bin_modifier expr { $$ = new_binary(ps, $1, PQ_OP_AND, $3, $4); }
    | expr LOR     bin_modifier expr { $$ = new_binary(ps, $1, PQ_OP_OR, $3, $4); }
    | expr LSS     bin_modifier expr { $$ = new_binary(ps, $1, PQ_OP_LT, $3, $4); }
    | expr LTE     bin_modifier expr { $$ = new_binary(ps, $1, PQ_OP_LE, $3, $4); }
    | expr LUNLESS bin_modifier expr { $$ = new_binary(ps, $1, PQ_OP_UNLESS, $3, $4); }
    | expr MOD     bin_modifier expr { $$ = new_binary(ps, $1, PQ_OP_MOD, $3, $4); }
    | expr MUL     bin_modifier expr { $$ = new_binary(ps, $1, PQ_OP_MUL, $3, $4); }
    | expr NEQ     bin_modifier expr { $$ = new_binary(ps, $1, PQ_OP_NE, $3, $4); }
    | expr POW     bin_modifier expr { $$ = new_binary(ps, $1, PQ_OP_POW, $3, $4); }
    | expr SUB     bin_modifier expr { $$ = new_binary(ps, $1, PQ_OP_SUB, $3, $4); }
    ;

bin_modifier: group_modifiers;

bool_modifier:
      %empty                    { $$ = holder_binary(ps, 0); }
    | BOOL                      { $$ = holder_binary(ps, 1); }
    ;

on_or_ignoring:
      bool_modifier IGNORING grouping_labels
        {
            $$ = $1;
            if (!FAILED) {
                $$->u.binary.matching.has_matching = 1;
                $$->u.binary.matching.matching.names = (const char **)$3->items;
                $$->u.binary.matching.matching.n = $3->n;
            }
        }
    | bool_modifier ON grouping_labels
        {
            $$ = $1;
            if (!FAILED) {
                $$->u.binary.matching.has_matching = 1;
                $$->u.binary.matching.on = 1;
                $$->u.binary.matching.matching.names = (const char **)$3->items;
                $$->u.binary.matching.matching.n = $3->n;
            }
        }
    ;

group_modifiers:
      bool_modifier
    | on_or_ignoring
    | on_or_ignoring GROUP_LEFT maybe_grouping_labels
        {
            $$ = $1;
            if (!FAILED) {
                $$->u.binary.matching.card = PQ_CARD_MANY_TO_ONE;
                if ($3) {
                    $$->u.binary.matching.include.names = (const char **)$3->items;
                    $$->u.binary.matching.include.n = $3->n;
                }
            }
        }
    | on_or_ignoring GROUP_RIGHT maybe_grouping_labels
        {
            $$ = $1;
            if (!FAILED) {
                $$->u.binary.matching.card = PQ_CARD_ONE_TO_MANY;
                if ($3) {
                    $$->u.binary.matching.include.names = (const char **)$3->items;
                    $$->u.binary.matching.include.n = $3->n;
                }
            }
        }
    ;

grouping_labels:
      LEFT_PAREN grouping_label_list RIGHT_PAREN        { $$ = $2; }
    | LEFT_PAREN grouping_label_list COMMA RIGHT_PAREN  { $$ = $2; }
    | LEFT_PAREN RIGHT_PAREN                            { $$ = FAILED ? NULL : list_new(ps); }
    | error                     { unexpected(ps, "grouping opts", "\"(\""); $$ = NULL; }
    ;

grouping_label_list:
      grouping_label_list COMMA grouping_label
        { $$ = FAILED ? NULL : list_push(ps, $1, (void *)label_name(ps, $3, 0)); }
    | grouping_label
        { $$ = FAILED ? NULL : list_push(ps, list_new(ps), (void *)label_name(ps, $1, 0)); }
    | grouping_label_list error
        { unexpected(ps, "grouping opts", "\",\" or \")\""); $$ = $1; }
    ;

grouping_label:
      maybe_label               { label_name(ps, $1, 1); $$ = $1; }
    | error                     { unexpected(ps, "grouping opts", "label"); $$ = (pq_tok){0, 0}; }
    ;

/* ---------------------------------------------------------------- function calls */

function_call:
      IDENTIFIER function_call_body { $$ = new_call(ps, $1, $2, @$); }
    ;

function_call_body:
      LEFT_PAREN function_call_args RIGHT_PAREN { $$ = $2; }
    | LEFT_PAREN RIGHT_PAREN                    { $$ = FAILED ? NULL : list_new(ps); }
    ;

function_call_args:
      function_call_args COMMA expr { $$ = FAILED ? NULL : list_push(ps, $1, $3); }
    | expr                          { $$ = FAILED ? NULL : list_push(ps, list_new(ps), $1); }
    | function_call_args COMMA
        {
            pq_error_at(ps, @2.start, "trailing commas not allowed in function call args");
            $$ = $1;
        }
    ;

/* ---------------------------------------------------------------- parentheses */

paren_expr:
      LEFT_PAREN expr RIGHT_PAREN
        {
            $$ = NULL;
            if (!FAILED) {
                $$ = node_new(ps, PQ_PAREN, @$.start, @$.end);
                $$->u.paren.expr = $2;
            }
        }
    ;

/* ---------------------------------------------------------------- offset and @ */

offset_expr:
      expr OFFSET duration      { add_offset(ps, $1, $3, @$.end); $$ = $1; }
    | expr OFFSET SUB duration  { add_offset(ps, $1, -$4, @$.end); $$ = $1; }
    | expr OFFSET error         { unexpected(ps, "offset", "duration"); $$ = $1; }
    ;

step_invariant_expr:
      expr AT signed_or_unsigned_number { set_at(ps, $1, 0, $3, @$.end); $$ = $1; }
    | expr AT at_modifier_preprocessors LEFT_PAREN RIGHT_PAREN
        { set_at(ps, $1, $3.len == 5 ? 1 : 2, 0, @$.end); $$ = $1; }
    | expr AT error             { unexpected(ps, "@", "timestamp"); $$ = $1; }
    ;

at_modifier_preprocessors: START | END;

/* ---------------------------------------------------------------- ranges and subqueries */

matrix_selector:
      expr LEFT_BRACKET duration RIGHT_BRACKET { $$ = new_matrix(ps, $1, $3, @2, @4); }
    ;

subquery_expr:
      expr LEFT_BRACKET duration COLON maybe_duration RIGHT_BRACKET
        { $$ = new_subquery(ps, $1, $3, $5, @6.end); }
    | expr LEFT_BRACKET duration COLON duration error
        { unexpected(ps, "subquery selector", "\"]\""); $$ = $1; }
    | expr LEFT_BRACKET duration COLON error
        { unexpected(ps, "subquery selector", "duration or \"]\""); $$ = $1; }
    | expr LEFT_BRACKET duration error
        { unexpected(ps, "subquery or range", "\":\" or \"]\""); $$ = $1; }
    | expr LEFT_BRACKET error
        { unexpected(ps, "subquery selector", "duration"); $$ = $1; }
    ;

/* ---------------------------------------------------------------- unary expressions */

unary_expr:
      /* the precedence of MUL, as in mathematics: -a^b is -(a^b) */
      unary_op expr %prec MUL   { $$ = new_unary(ps, TOKTEXT($1)[0] == '-', @1.start, $2); }
    ;

/* ---------------------------------------------------------------- vector selectors */

vector_selector:
      metric_identifier label_matchers { $$ = new_selector(ps, &$1, $2, @$); }
    | metric_identifier                { $$ = new_selector(ps, &$1, NULL, @$); }
    | label_matchers                   { $$ = new_selector(ps, NULL, $1, @$); }
    ;

label_matchers:
      LEFT_BRACE label_match_list RIGHT_BRACE       { $$ = $2; }
    | LEFT_BRACE label_match_list COMMA RIGHT_BRACE { $$ = $2; }
    | LEFT_BRACE RIGHT_BRACE                        { $$ = FAILED ? NULL : list_new(ps); }
    ;

label_match_list:
      label_match_list COMMA label_matcher { $$ = FAILED ? NULL : list_push(ps, $1, $3); }
    | label_matcher                        { $$ = FAILED ? NULL : list_push(ps, list_new(ps), $1); }
    | label_match_list error
        { unexpected(ps, "label matching", "\",\" or \"}\""); $$ = $1; }
    ;

label_matcher:
      IDENTIFIER match_op STRING
        {
            int op = $2.len == 1 ? MATCH_EQ
                   : TOKTEXT($2)[0] == '=' ? MATCH_RE
                   : TOKTEXT($2)[1] == '=' ? MATCH_NEQ : MATCH_NRE;
            $$ = new_matcher(ps, $1, op, $3);
        }
    | IDENTIFIER match_op error { unexpected(ps, "label matching", "string"); $$ = NULL; }
    | IDENTIFIER error          { unexpected(ps, "label matching", "label matching operator"); $$ = NULL; }
    | error                     { unexpected(ps, "label matching", "identifier or \"}\""); $$ = NULL; }
    ;

metric_identifier:
      AVG | BOTTOMK | BY | COUNT | COUNT_VALUES | GROUP | IDENTIFIER | LAND | LOR | LUNLESS
    | MAX | METRIC_IDENTIFIER | MIN | OFFSET | QUANTILE | STDDEV | STDVAR | SUM | TOPK
    | WITHOUT | START | END
    ;

/* ---------------------------------------------------------------- keyword lists */

aggregate_op:
      AVG | BOTTOMK | COUNT | COUNT_VALUES | GROUP | MAX | MIN | QUANTILE | STDDEV | STDVAR
    | SUM | TOPK
    ;

/* Inside grouping options label names can be keywords. */
maybe_label:
      AVG | BOOL | BOTTOMK | BY | COUNT | COUNT_VALUES | GROUP | GROUP_LEFT | GROUP_RIGHT
    | IDENTIFIER | IGNORING | LAND | LOR | LUNLESS | MAX | METRIC_IDENTIFIER | MIN | OFFSET
    | ON | QUANTILE | STDDEV | STDVAR | SUM | TOPK | START | END | ATAN2
    ;

unary_op: ADD | SUB;

match_op: EQL | NEQ | EQL_REGEX | NEQ_REGEX;

/* ---------------------------------------------------------------- literals */

number_literal:
      NUMBER
        {
            double v = parse_number(ps, $1);
            $$ = NULL;
            if (!FAILED) {
                $$ = node_new(ps, PQ_NUMBER, @1.start, @1.end);
                $$->u.number = v;
            }
        }
    ;

number: NUMBER { $$ = parse_number(ps, $1); };

signed_number:
      ADD number { $$ = $2; }
    | SUB number { $$ = -$2; }
    ;

signed_or_unsigned_number: number | signed_number;

duration: DURATION { $$ = parse_dur(ps, $1); };

string_literal: STRING { $$ = new_string(ps, $1); };

maybe_duration:
      %empty { $$ = 0; }
    | duration
    ;

maybe_grouping_labels:
      %empty { $$ = NULL; }
    | grouping_labels
    ;

%%

/* ================================================================ errors */

/* Records the first error as "LINE:COL: parse error: MESSAGE", the line and
 * the byte column of pos being 1-based, as Prometheus's ParseErr does. */
void pq_error_at(pq_pstate *ps, uint32_t pos, const char *fmt, ...) {
    if (ps->failed) return;
    ps->failed = 1;
    if (pos > ps->len) pos = ps->len;
    unsigned line = 1;
    uint32_t line_start = 0;
    for (uint32_t i = 0; i < pos; i++)
        if (ps->text[i] == '\n') {
            line++;
            line_start = i + 1;
        }
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    errf(ps->err, "%u:%u: parse error: %s", line, (unsigned)(pos - line_start) + 1, msg);
}

/* Bison's own syntax-error report is not used: the error productions name
 * the context instead (see the design note).  Only stack exhaustion, which
 * no production can catch, is reported from here. */
static void pq_yyerror(PQ_YYLTYPE *loc, pq_pstate *ps, const char *msg) {
    (void)loc;
    if (strstr(msg, "exhausted")) pq_error_at(ps, ps->last.pos, "expression nested too deeply");
}

/* Go's %q applied to at most max runes of s (max 0: all), as fmt does for
 * "%.10q". */
static void go_quote_runes(buf *out, const char *s, size_t len, size_t max);

/* Prometheus's Item.desc(): how an unexpected token is named in messages.
 * Punctuation is quoted ("\"(\""), operators are "<op:+>", aggregators
 * "<aggr:sum>", keywords "<by>", other tokens are "kind \"text\"" (strings
 * longer than 10 bytes cut to 10 runes and "..."), the end "end of input". */
static void token_desc(pq_pstate *ps, buf *out) {
    const char *t = TOKTEXT(ps->last);
    size_t n = ps->last.len;
    int k = ps->last_kind;
    switch (k) {
    case T_EOF: buf_printf(out, "end of input"); return;
    case IDENTIFIER: buf_printf(out, "identifier "); go_quote_runes(out, t, n, 0); return;
    case METRIC_IDENTIFIER: buf_printf(out, "metric identifier "); go_quote_runes(out, t, n, 0); return;
    case NUMBER: buf_printf(out, "number "); go_quote_runes(out, t, n, n > 10 ? 10 : 0); break;
    case STRING: buf_printf(out, "string "); go_quote_runes(out, t, n, n > 10 ? 10 : 0); break;
    case DURATION: buf_printf(out, "duration "); go_quote_runes(out, t, n, n > 10 ? 10 : 0); break;
    case ADD: case DIV: case EQLC: case EQL_REGEX: case GTE: case GTR: case LAND: case LOR:
    case LSS: case LTE: case LUNLESS: case MOD: case MUL: case NEQ: case NEQ_REGEX: case POW:
    case SUB: case ATAN2:
        buf_printf(out, "<op:%.*s>", (int)n, t);
        return;
    case AT:
        /* Prometheus 2.42 has no description for '@' and prints goyacc's
         * token number; reproduced verbatim. */
        buf_printf(out, "\"<Item 57385>\" <op:%.*s>", (int)n, t);
        return;
    case AVG: case BOTTOMK: case COUNT: case COUNT_VALUES: case GROUP: case MAX: case MIN:
    case QUANTILE: case STDDEV: case STDVAR: case SUM: case TOPK:
        buf_printf(out, "<aggr:%.*s>", (int)n, t);
        return;
    case BOOL: case BY: case GROUP_LEFT: case GROUP_RIGHT: case IGNORING: case OFFSET: case ON:
    case WITHOUT: case START: case END:
        buf_printf(out, "<%.*s>", (int)n, t);
        return;
    default: go_quote_runes(out, t, n, 0); return;
    }
    if (n > 10) buf_printf(out, "...");
}

/* Prometheus's parser.unexpected(): "unexpected <token>[ in CONTEXT][,
 * expected WHAT]" at the position of the last token lexed. */
static void unexpected(pq_pstate *ps, const char *context, const char *expected) {
    if (ps->failed) return;
    buf b = {0};
    buf_printf(&b, "unexpected ");
    token_desc(ps, &b);
    if (*context) buf_printf(&b, " in %s", context);
    if (*expected) buf_printf(&b, ", expected %s", expected);
    pq_error_at(ps, ps->last.pos, "%.*s", (int)b.len, (char *)b.data);
    buf_free(&b);
}

/* ================================================================ builders */

static pq_list *list_new(pq_pstate *ps) { return pq_alloc(ps->arena, sizeof(pq_list)); }

/* Appends to an arena list, doubling its array (the old array stays in the
 * arena until it is freed; lists are short). */
static pq_list *list_push(pq_pstate *ps, pq_list *l, void *item) {
    if (!l) return NULL;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4;
        void **items = pq_alloc(ps->arena, cap * sizeof(void *));
        if (l->n) memcpy(items, l->items, l->n * sizeof(void *));
        l->items = items;
        l->cap = cap;
    }
    l->items[l->n++] = item;
    return l;
}

static pq_node *node_new(pq_pstate *ps, pq_kind kind, uint32_t start, uint32_t end) {
    pq_node *n = pq_alloc(ps->arena, sizeof *n);
    n->kind = kind;
    n->pos.start = start;
    n->pos.end = end;
    return n;
}

/* The bool/on/ignoring/group_x modifiers are collected in a binary node
 * that new_binary() then completes, as Prometheus does. */
static pq_node *holder_binary(pq_pstate *ps, int return_bool) {
    if (ps->failed) return NULL;
    pq_node *n = node_new(ps, PQ_BINARY, 0, 0);
    n->u.binary.return_bool = return_bool;
    n->u.binary.matching.card = PQ_CARD_ONE_TO_ONE;
    return n;
}

static pq_node *new_binary(pq_pstate *ps, pq_node *lhs, pq_binop op, pq_node *mod, pq_node *rhs) {
    if (ps->failed || !lhs || !rhs || !mod) return NULL;
    mod->u.binary.op = op;
    mod->u.binary.lhs = lhs;
    mod->u.binary.rhs = rhs;
    mod->pos.start = lhs->pos.start;
    mod->pos.end = rhs->pos.end;
    return mod;
}

/* Whether a label name is valid: [a-zA-Z_][a-zA-Z0-9_]*. */
static int is_label(const char *s, size_t n) {
    if (n == 0) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int ok = c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (i > 0 && c >= '0' && c <= '9');
        if (!ok) return 0;
    }
    return 1;
}

/* Copies a grouping label into the arena; with check, reports a token that
 * is not a valid label name (a metric identifier with a colon). */
static const char *label_name(pq_pstate *ps, pq_tok t, int check) {
    if (ps->failed) return NULL;
    if (check) {
        if (!is_label(TOKTEXT(t), t.len)) unexpected(ps, "grouping opts", "label");
        return NULL;
    }
    return pq_strndup(ps->arena, TOKTEXT(t), t.len);
}

/* The type an expression yields, from its shape alone (Prometheus's
 * Expr.Type()); check_ast() uses the same rules. */
static pq_type static_type(const pq_node *n) {
    switch (n->kind) {
    case PQ_NUMBER: return PQ_TYPE_SCALAR;
    case PQ_STRING: return PQ_TYPE_STRING;
    case PQ_SELECTOR: return n->u.sel.range_ms > 0 ? PQ_TYPE_MATRIX : PQ_TYPE_VECTOR;
    case PQ_SUBQUERY: return PQ_TYPE_MATRIX;
    case PQ_CALL: return n->u.call.func ? n->u.call.func->ret : PQ_TYPE_VECTOR;
    case PQ_AGGREGATE: return PQ_TYPE_VECTOR;
    case PQ_BINARY:
        return static_type(n->u.binary.lhs) == PQ_TYPE_SCALAR && static_type(n->u.binary.rhs) == PQ_TYPE_SCALAR
                   ? PQ_TYPE_SCALAR : PQ_TYPE_VECTOR;
    case PQ_UNARY: return static_type(n->u.unary.expr);
    case PQ_PAREN: return static_type(n->u.paren.expr);
    case PQ_STEP_INVARIANT: return n->type;
    }
    return PQ_TYPE_VECTOR;
}

/* Unary minus folds into a number literal (as in Prometheus); unary plus is
 * dropped (ast.h has no unary-plus node), but its operand is type-checked
 * here so that +"a" is still refused. */
static pq_node *new_unary(pq_pstate *ps, int minus, uint32_t op_pos, pq_node *e) {
    if (ps->failed || !e) return NULL;
    if (e->kind == PQ_NUMBER) {
        if (minus) e->u.number = -e->u.number;
        e->pos.start = op_pos;
        return e;
    }
    if (!minus) {
        pq_type t = static_type(e);
        if (t != PQ_TYPE_SCALAR && t != PQ_TYPE_VECTOR)
            pq_error_at(ps, op_pos, "unary expression only allowed on expressions of type scalar or instant vector, got \"%s\"",
                        pq_type_name(t));
        return e;
    }
    pq_node *n = node_new(ps, PQ_UNARY, op_pos, e->pos.end);
    n->u.unary.expr = e;
    return n;
}

static pq_node *new_aggregate(pq_pstate *ps, pq_tok op, pq_node *mod, pq_list *args, PQ_YYLTYPE loc) {
    if (ps->failed || !args) return NULL;
    pq_node *n = mod ? mod : node_new(ps, PQ_AGGREGATE, 0, 0);
    n->pos.start = loc.start;
    n->pos.end = loc.end;
    char name[16];
    size_t len = op.len < sizeof name - 1 ? op.len : sizeof name - 1;
    for (size_t i = 0; i < len; i++) {
        char c = TOKTEXT(op)[i];
        name[i] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    }
    name[len] = 0;
    for (int a = PQ_AGG_SUM; a <= PQ_AGG_COUNT_VALUES; a++)
        if (strcmp(name, pq_aggop_name((pq_aggop)a)) == 0) n->u.agg.op = (pq_aggop)a;
    if (args->n == 0) {
        pq_error_at(ps, n->pos.start, "no arguments for aggregate expression provided");
        return NULL;
    }
    size_t want = 1;
    if (pq_aggop_has_param(n->u.agg.op)) {
        want = 2;
        n->u.agg.param = args->items[0];
    }
    if (args->n != want) {
        pq_error_at(ps, n->pos.start, "wrong number of arguments for aggregate expression provided, expected %zu, got %zu",
                    want, args->n);
        return NULL;
    }
    n->u.agg.expr = args->items[want - 1];
    return n;
}

static pq_node *new_call(pq_pstate *ps, pq_tok name, pq_list *args, PQ_YYLTYPE loc) {
    if (ps->failed || !args) return NULL;
    const pq_func *f = pq_func_lookup(TOKTEXT(name), name.len);
    if (!f) {
        buf b = {0};
        go_quote_runes(&b, TOKTEXT(name), name.len, 0);
        pq_error_at(ps, name.pos, "unknown function with name %.*s", (int)b.len, (char *)b.data);
        buf_free(&b);
        return NULL;
    }
    pq_node *n = node_new(ps, PQ_CALL, loc.start, loc.end);
    n->u.call.func = f;
    n->u.call.args = (pq_node **)args->items;
    n->u.call.nargs = args->n;
    return n;
}

/* Builds a matcher when its label_matcher is reduced (so a bad regex is
 * reported where Prometheus reports it, before later syntax errors).  The
 * arena owns the matcher; new_selector() copies it into the selector's
 * array, and the copies share the owned name, value and regex. */
static matcher *new_matcher(pq_pstate *ps, pq_tok name, int op, pq_tok value) {
    if (ps->failed) return NULL;
    pq_node *s = new_string(ps, value);
    if (!s) return NULL;
    matcher *m = pq_alloc(ps->arena, sizeof *m);
    errbuf e;
    if (matcher_init(m, (match_op)op, TOKTEXT(name), name.len, s->u.string.s, s->u.string.len, &e) != 0) {
        /* Prometheus prints Go's regexp error here; PCRE2's wording differs. */
        const char *why = strstr(e.msg, "\": ");
        pq_error_at(ps, name.pos, "error parsing regexp: %s: `^(?:%.*s)$`", why ? why + 3 : e.msg,
                    (int)s->u.string.len, s->u.string.s);
        return NULL;
    }
    pq_arena_own_matcher(ps->arena, m);
    return m;
}

static pq_node *new_selector(pq_pstate *ps, pq_tok *name, pq_list *matchers, PQ_YYLTYPE loc) {
    if (ps->failed) return NULL;
    pq_node *n = node_new(ps, PQ_SELECTOR, loc.start, loc.end);
    size_t count = (matchers ? matchers->n : 0) + (name ? 1 : 0);
    n->u.sel.matchers = pq_alloc(ps->arena, (count ? count : 1) * sizeof(matcher));
    for (size_t i = 0; matchers && i < matchers->n; i++) n->u.sel.matchers[i] = *(matcher *)matchers->items[i];
    if (name) {
        n->u.sel.name = pq_strndup(ps->arena, TOKTEXT(*name), name->len);
        matcher *m = &n->u.sel.matchers[count - 1];
        errbuf e;
        if (matcher_init(m, MATCH_EQ, "__name__", 8, n->u.sel.name, name->len, &e) != 0) abort();
        pq_arena_own_matcher(ps->arena, m);
    }
    n->u.sel.nmatchers = count;
    return n;
}

static pq_node *new_matrix(pq_pstate *ps, pq_node *e, int64_t range, PQ_YYLTYPE lb, PQ_YYLTYPE rb) {
    if (ps->failed || !e) return NULL;
    const char *msg = NULL;
    if (e->kind != PQ_SELECTOR || e->u.sel.range_ms > 0) msg = "ranges only allowed for vector selectors";
    else if (e->u.sel.offset_ms != 0) msg = "no offset modifiers allowed before range";
    else if (e->u.sel.has_at && e->u.sel.at_kind == 0) msg = "no @ modifiers allowed before range";
    if (msg) {
        pq_error_at(ps, lb.start, "%s", msg);
        return NULL;
    }
    e->u.sel.range_ms = range;
    e->pos.end = rb.end;
    return e;
}

static pq_node *new_subquery(pq_pstate *ps, pq_node *e, int64_t range, int64_t step, uint32_t end) {
    if (ps->failed || !e) return NULL;
    pq_node *n = node_new(ps, PQ_SUBQUERY, e->pos.start, end);
    n->u.subquery.expr = e;
    n->u.subquery.range_ms = range;
    n->u.subquery.step_ms = step;
    return n;
}

/* Prometheus's addOffset(): only selectors (instant or range) and
 * subqueries take an offset, once. */
static void add_offset(pq_pstate *ps, pq_node *e, int64_t off, uint32_t end) {
    if (ps->failed || !e) return;
    int64_t *slot;
    if (e->kind == PQ_SELECTOR) slot = &e->u.sel.offset_ms;
    else if (e->kind == PQ_SUBQUERY) slot = &e->u.subquery.offset_ms;
    else {
        pq_error_at(ps, e->pos.start,
                    "offset modifier must be preceded by an instant vector selector or range vector selector or a subquery");
        return;
    }
    if (*slot != 0) {
        pq_error_at(ps, e->pos.start, "offset may not be set multiple times");
        return;
    }
    *slot = off;
    e->pos.end = end;
}

/* Prometheus's setTimestamp()/setAtModifierPreprocessor(): kind 0 is a
 * timestamp in seconds, 1 start(), 2 end(). */
static void set_at(pq_pstate *ps, pq_node *e, int kind, double ts, uint32_t end) {
    if (ps->failed || !e) return;
    if (kind == 0 && (isinf(ts) || isnan(ts) || ts >= 9223372036854775807.0 || ts <= -9223372036854775808.0)) {
        if (isnan(ts)) pq_error_at(ps, e->pos.start, "timestamp out of bounds for @ modifier: NaN");
        else if (isinf(ts)) pq_error_at(ps, e->pos.start, "timestamp out of bounds for @ modifier: %sInf", ts > 0 ? "+" : "-");
        else pq_error_at(ps, e->pos.start, "timestamp out of bounds for @ modifier: %f", ts);
        return;
    }
    int *has_at, *at_kind;
    int64_t *at_ms;
    if (e->kind == PQ_SELECTOR) {
        has_at = &e->u.sel.has_at;
        at_kind = &e->u.sel.at_kind;
        at_ms = &e->u.sel.at_ms;
    } else if (e->kind == PQ_SUBQUERY) {
        has_at = &e->u.subquery.has_at;
        at_kind = &e->u.subquery.at_kind;
        at_ms = &e->u.subquery.at_ms;
    } else {
        pq_error_at(ps, e->pos.start,
                    "@ modifier must be preceded by an instant vector selector or range vector selector or a subquery");
        return;
    }
    if (*has_at) {
        pq_error_at(ps, e->pos.start, "@ <timestamp> may not be set multiple times");
        return;
    }
    *has_at = 1;
    *at_kind = kind;
    if (kind == 0) {
        double ms = round(ts * 1000.0);
        *at_ms = ms >= 9223372036854775807.0 ? INT64_MAX : ms <= -9223372036854775808.0 ? INT64_MIN : (int64_t)ms;
    }
    e->pos.end = end;
}

/* Go's strconv.ParseInt(s, 0, 64), then strconv.ParseFloat(s, 64), as
 * Prometheus's parser.number() does.  The lexer only produces [0-9a-fA-FxX.eE+-]
 * words, "inf" and "nan". */
static double parse_number(pq_pstate *ps, pq_tok t) {
    if (ps->failed) return 0;
    char s[128];
    const char *err = NULL;
    size_t n = t.len;
    double v = 0;
    if (n >= sizeof s) {
        /* longer than any float Go would parse without error either */
        n = sizeof s - 1;
    }
    memcpy(s, TOKTEXT(t), n);
    s[n] = 0;
    /* Integer with base prefix: 0x hex, 0 octal, else decimal. */
    {
        const char *p = s;
        int base = 10;
        if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) { base = 16; p += 2; }
        else if (p[0] == '0' && p[1]) { base = 8; p += 1; }
        int ok = *p != 0, overflow = 0;
        uint64_t acc = 0;
        for (const char *q = p; *q && ok; q++) {
            int d = *q >= '0' && *q <= '9' ? *q - '0'
                  : *q >= 'a' && *q <= 'f' ? *q - 'a' + 10
                  : *q >= 'A' && *q <= 'F' ? *q - 'A' + 10 : 99;
            if (d >= base) { ok = 0; break; }
            if (acc > (UINT64_MAX - (uint64_t)d) / (uint64_t)base) overflow = 1;
            else acc = acc * (uint64_t)base + (uint64_t)d;
        }
        if (ok && !overflow && acc <= (uint64_t)INT64_MAX && t.len < sizeof s) return (double)(int64_t)acc;
    }
    /* Float: Go's decimal syntax (digits, '.', exponent) or inf/nan. */
    if (strcasecmp(s, "inf") == 0) return INFINITY;
    if (strcasecmp(s, "nan") == 0) return NAN;
    {
        const char *p = s;
        int digits = 0;
        while (*p >= '0' && *p <= '9') { p++; digits++; }
        if (*p == '.') {
            p++;
            while (*p >= '0' && *p <= '9') { p++; digits++; }
        }
        int ok = digits > 0;
        if (ok && (*p == 'e' || *p == 'E')) {
            p++;
            if (*p == '+' || *p == '-') p++;
            int ed = 0;
            while (*p >= '0' && *p <= '9') { p++; ed++; }
            if (!ed) ok = 0;
        }
        if (ok && *p == 0 && t.len < sizeof s) {
            v = strtod(s, NULL);
            if (isinf(v)) err = "value out of range";
            else return v;
        } else {
            err = "invalid syntax";
        }
    }
    buf b = {0};
    go_quote_runes(&b, TOKTEXT(t), t.len, 0);
    pq_error_at(ps, t.pos, "error parsing number: strconv.ParseFloat: parsing %.*s: %s", (int)b.len, (char *)b.data, err);
    buf_free(&b);
    return 0;
}

/* Prometheus's parseDuration(): model.ParseDuration, and never zero. */
static int64_t parse_dur(pq_pstate *ps, pq_tok t) {
    if (ps->failed) return 0;
    char s[64];
    int64_t ms = 0;
    int bad = t.len >= sizeof s;
    if (!bad) {
        memcpy(s, TOKTEXT(t), t.len);
        s[t.len] = 0;
        bad = parse_duration(s, &ms) != 0;
    }
    if (bad) {
        buf b = {0};
        go_quote_runes(&b, TOKTEXT(t), t.len, 0);
        pq_error_at(ps, t.pos, "not a valid duration string: %.*s", (int)b.len, (char *)b.data);
        buf_free(&b);
        return 0;
    }
    if (ms == 0) pq_error_at(ps, t.pos, "duration must be greater than 0");
    return ms;
}

/* Appends the UTF-8 encoding of code point c. */
static void put_utf8(buf *b, uint32_t c) {
    uint8_t o[4];
    size_t n;
    if (c < 0x80) { o[0] = (uint8_t)c; n = 1; }
    else if (c < 0x800) { o[0] = (uint8_t)(0xC0 | c >> 6); o[1] = (uint8_t)(0x80 | (c & 0x3F)); n = 2; }
    else if (c < 0x10000) {
        o[0] = (uint8_t)(0xE0 | c >> 12); o[1] = (uint8_t)(0x80 | ((c >> 6) & 0x3F));
        o[2] = (uint8_t)(0x80 | (c & 0x3F)); n = 3;
    } else {
        o[0] = (uint8_t)(0xF0 | c >> 18); o[1] = (uint8_t)(0x80 | ((c >> 12) & 0x3F));
        o[2] = (uint8_t)(0x80 | ((c >> 6) & 0x3F)); o[3] = (uint8_t)(0x80 | (c & 0x3F)); n = 4;
    }
    buf_append(b, o, n);
}

static int hexval(char c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : 0;
}

/* Decodes a string token (quotes included) into a PQ_STRING node.  The
 * lexer has already validated every escape, so decoding cannot fail:
 * \a \b \f \n \r \t \v \\ \' \" , \NNN octal and \xNN bytes, \uNNNN and
 * \UNNNNNNNN code points as UTF-8; backquoted strings are raw. */
static pq_node *new_string(pq_pstate *ps, pq_tok t) {
    if (ps->failed) return NULL;
    const char *s = TOKTEXT(t) + 1;
    size_t n = t.len - 2;
    buf b = {0};
    buf_reserve(&b, n + 1);
    if (TOKTEXT(t)[0] == '`') {
        buf_append(&b, s, n);
    } else {
        for (size_t i = 0; i < n; i++) {
            char c = s[i];
            if (c != '\\') {
                buf_append(&b, &c, 1);
                continue;
            }
            char e = s[++i];
            char out = 0;
            switch (e) {
            case 'a': out = '\a'; break;
            case 'b': out = '\b'; break;
            case 'f': out = '\f'; break;
            case 'n': out = '\n'; break;
            case 'r': out = '\r'; break;
            case 't': out = '\t'; break;
            case 'v': out = '\v'; break;
            case 'x':
                out = (char)(hexval(s[i + 1]) << 4 | hexval(s[i + 2]));
                i += 2;
                break;
            case 'u': case 'U': {
                int digits = e == 'u' ? 4 : 8;
                uint32_t c32 = 0;
                for (int k = 1; k <= digits; k++) c32 = c32 << 4 | (uint32_t)hexval(s[i + (size_t)k]);
                i += (size_t)digits;
                put_utf8(&b, c32);
                continue;
            }
            default:
                if (e >= '0' && e <= '7') {
                    out = (char)(((e - '0') << 6) | ((s[i + 1] - '0') << 3) | (s[i + 2] - '0'));
                    i += 2;
                } else {
                    out = e;  /* \\ \' \" */
                }
            }
            buf_append(&b, &out, 1);
        }
    }
    pq_node *node = node_new(ps, PQ_STRING, t.pos, t.pos + t.len);
    node->u.string.s = pq_strndup(ps->arena, b.data ? (char *)b.data : "", b.len);
    node->u.string.len = b.len;
    buf_free(&b);
    return node;
}

/* ================================================================ type checks */

/* ValueType.String(), which one Prometheus message uses instead of the
 * documented names. */
static const char *value_type_word(pq_type t) {
    switch (t) {
    case PQ_TYPE_SCALAR: return "scalar";
    case PQ_TYPE_VECTOR: return "vector";
    case PQ_TYPE_MATRIX: return "matrix";
    case PQ_TYPE_STRING: return "string";
    }
    return "none";
}

static pq_type check_ast(pq_pstate *ps, pq_node *n);

/* expectType(): checks a child and requires a type. */
static void expect_type(pq_pstate *ps, pq_node *n, pq_type want, const char *context) {
    pq_type t = check_ast(ps, n);
    if (t != want)
        pq_error_at(ps, n->pos.start, "expected type %s in %s, got %s", pq_type_name(want), context, pq_type_name(t));
}

/* Where a binary operator starts: the first non-space byte after its left
 * operand (Prometheus's opRange()). */
static uint32_t op_pos(pq_pstate *ps, const pq_node *n) {
    uint32_t p = n->u.binary.lhs->pos.end;
    while (p < ps->len && (ps->text[p] == ' ' || ps->text[p] == '\t' || ps->text[p] == '\n' || ps->text[p] == '\r')) p++;
    return p;
}

/* Prometheus's checkAST(): sets n->type, recursing into children first, and
 * reports the first type error in Prometheus's order. */
static pq_type check_ast(pq_pstate *ps, pq_node *n) {
    n->type = static_type(n);
    switch (n->kind) {
    case PQ_AGGREGATE:
        expect_type(ps, n->u.agg.expr, PQ_TYPE_VECTOR, "aggregation expression");
        if (n->u.agg.op == PQ_AGG_TOPK || n->u.agg.op == PQ_AGG_BOTTOMK || n->u.agg.op == PQ_AGG_QUANTILE)
            expect_type(ps, n->u.agg.param, PQ_TYPE_SCALAR, "aggregation parameter");
        if (n->u.agg.op == PQ_AGG_COUNT_VALUES)
            expect_type(ps, n->u.agg.param, PQ_TYPE_STRING, "aggregation parameter");
        break;
    case PQ_BINARY: {
        pq_type lt = check_ast(ps, n->u.binary.lhs);
        pq_type rt = check_ast(ps, n->u.binary.rhs);
        pq_binop op = n->u.binary.op;
        pq_matching *vm = &n->u.binary.matching;
        if (n->u.binary.return_bool && !pq_binop_is_comparison(op))
            pq_error_at(ps, op_pos(ps, n), "bool modifier can only be used on comparison operators");
        if (pq_binop_is_comparison(op) && !n->u.binary.return_bool && lt == PQ_TYPE_SCALAR && rt == PQ_TYPE_SCALAR)
            pq_error_at(ps, op_pos(ps, n), "comparisons between scalars must use BOOL modifier");
        if (pq_binop_is_set(op) && vm->card == PQ_CARD_ONE_TO_ONE) vm->card = PQ_CARD_MANY_TO_MANY;
        if (vm->on)
            for (size_t i = 0; i < vm->matching.n; i++)
                for (size_t j = 0; j < vm->include.n; j++)
                    if (strcmp(vm->matching.names[i], vm->include.names[j]) == 0) {
                        buf b = {0};
                        pq_go_quote(&b, vm->matching.names[i], strlen(vm->matching.names[i]));
                        pq_error_at(ps, op_pos(ps, n), "label %.*s must not occur in ON and GROUP clause at once",
                                    (int)b.len, (char *)b.data);
                        buf_free(&b);
                    }
        if (lt != PQ_TYPE_SCALAR && lt != PQ_TYPE_VECTOR)
            pq_error_at(ps, n->u.binary.lhs->pos.start, "binary expression must contain only scalar and instant vector types");
        if (rt != PQ_TYPE_SCALAR && rt != PQ_TYPE_VECTOR)
            pq_error_at(ps, n->u.binary.rhs->pos.start, "binary expression must contain only scalar and instant vector types");
        if (lt != PQ_TYPE_VECTOR || rt != PQ_TYPE_VECTOR) {
            if (vm->matching.n > 0) pq_error_at(ps, n->pos.start, "vector matching only allowed between instant vectors");
            memset(vm, 0, sizeof *vm);   /* Prometheus drops the matching */
            vm->card = PQ_CARD_ONE_TO_ONE;
        } else if (pq_binop_is_set(op)) {
            if (vm->card == PQ_CARD_ONE_TO_MANY || vm->card == PQ_CARD_MANY_TO_ONE)
                pq_error_at(ps, n->pos.start, "no grouping allowed for \"%s\" operation", pq_binop_name(op));
            if (vm->card != PQ_CARD_MANY_TO_MANY)
                pq_error_at(ps, n->pos.start, "set operations must always be many-to-many");
        }
        if ((lt == PQ_TYPE_SCALAR || rt == PQ_TYPE_SCALAR) && pq_binop_is_set(op))
            pq_error_at(ps, n->pos.start, "set operator \"%s\" not allowed in binary scalar expression", pq_binop_name(op));
        break;
    }
    case PQ_CALL: {
        const pq_func *f = n->u.call.func;
        size_t nargs = (size_t)f->nargs, got = n->u.call.nargs;
        if (f->variadic == 0) {
            if (nargs != got)
                pq_error_at(ps, n->pos.start, "expected %zu argument(s) in call to \"%s\", got %zu", nargs, f->name, got);
        } else {
            size_t na = nargs - 1;
            if (na > got)
                pq_error_at(ps, n->pos.start, "expected at least %zu argument(s) in call to \"%s\", got %zu", na, f->name, got);
            else if (f->variadic > 0 && na + (size_t)f->variadic < got)
                pq_error_at(ps, n->pos.start, "expected at most %zu argument(s) in call to \"%s\", got %zu",
                            na + (size_t)f->variadic, f->name, got);
        }
        for (size_t i = 0; i < got; i++) {
            size_t k = i;
            if (k >= nargs) {
                if (f->variadic == 0) break;
                k = nargs - 1;
            }
            pq_node *arg = n->u.call.args[i];
            pq_type t = check_ast(ps, arg);
            if (t != f->args[k])
                pq_error_at(ps, arg->pos.start, "expected type %s in call to function \"%s\", got %s",
                            pq_type_name(f->args[k]), f->name, pq_type_name(t));
        }
        break;
    }
    case PQ_PAREN: check_ast(ps, n->u.paren.expr); break;
    case PQ_UNARY: {
        pq_type t = check_ast(ps, n->u.unary.expr);
        if (t != PQ_TYPE_SCALAR && t != PQ_TYPE_VECTOR)
            pq_error_at(ps, n->pos.start,
                        "unary expression only allowed on expressions of type scalar or instant vector, got \"%s\"",
                        pq_type_name(t));
        break;
    }
    case PQ_SUBQUERY: {
        pq_type t = check_ast(ps, n->u.subquery.expr);
        if (t != PQ_TYPE_VECTOR)
            pq_error_at(ps, n->pos.start, "subquery is only allowed on instant vector, got %s instead", value_type_word(t));
        break;
    }
    case PQ_SELECTOR:
        if (n->u.sel.name) {
            for (size_t i = 0; i + 1 < n->u.sel.nmatchers; i++) {
                const matcher *m = &n->u.sel.matchers[i];
                if (strcmp(m->name, "__name__") == 0) {
                    buf b = {0};
                    pq_go_quote(&b, n->u.sel.name, strlen(n->u.sel.name));
                    buf_printf(&b, " or ");
                    pq_go_quote(&b, m->value, m->value_len);
                    pq_error_at(ps, n->pos.start, "metric name must not be set twice: %.*s", (int)b.len, (char *)b.data);
                    buf_free(&b);
                }
            }
            break;
        }
        {
            int not_empty = 0;
            for (size_t i = 0; i < n->u.sel.nmatchers; i++)
                if (!matcher_matches(&n->u.sel.matchers[i], "", 0)) not_empty = 1;
            if (!not_empty) pq_error_at(ps, n->pos.start, "vector selector must contain at least one non-empty matcher");
        }
        break;
    case PQ_NUMBER: case PQ_STRING: case PQ_STEP_INVARIANT: break;
    }
    return n->type;
}

/* ================================================================ entry point */

pq_node *pq_parse(pq_arena *a, const char *text, size_t len, errbuf *err) {
    pq_pstate ps;
    memset(&ps, 0, sizeof ps);
    ps.arena = a;
    ps.text = text ? text : "";
    ps.err = err;
    if (len >= UINT32_MAX / 2) {
        errf(err, "parse error: query too long");
        return NULL;
    }
    ps.len = (uint32_t)len;
    int rc = pq_yyparse(&ps);
    if (!ps.failed && (rc != 0 || !ps.result)) unexpected(&ps, "", "");
    if (ps.failed) return NULL;
    check_ast(&ps, ps.result);
    return ps.failed ? NULL : ps.result;
}

/* ================================================================ quoting */

/* Decodes one UTF-8 sequence; returns its length, 0 when invalid (then the
 * byte stands alone, as Go's decoder returns RuneError of width 1). */
static size_t utf8_decode(const unsigned char *p, size_t n, uint32_t *cp) {
    if (p[0] < 0x80) { *cp = p[0]; return 1; }
    size_t len;
    uint32_t c, min;
    if ((p[0] & 0xE0) == 0xC0) { len = 2; c = p[0] & 0x1F; min = 0x80; }
    else if ((p[0] & 0xF0) == 0xE0) { len = 3; c = p[0] & 0x0F; min = 0x800; }
    else if ((p[0] & 0xF8) == 0xF0) { len = 4; c = p[0] & 0x07; min = 0x10000; }
    else return 0;
    if (len > n) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80) return 0;
        c = c << 6 | (p[i] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c < 0xE000)) return 0;
    *cp = c;
    return len;
}

static void go_quote_runes(buf *out, const char *s, size_t len, size_t max) {
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, runes = 0;
    buf_append(out, "\"", 1);
    while (i < len && (max == 0 || runes < max)) {
        uint32_t c;
        size_t w = utf8_decode(p + i, len - i, &c);
        runes++;
        if (w == 0) {
            buf_printf(out, "\\x%02x", p[i]);
            i++;
            continue;
        }
        i += w;
        switch (c) {
        case '"': buf_append(out, "\\\"", 2); continue;
        case '\\': buf_append(out, "\\\\", 2); continue;
        case '\a': buf_append(out, "\\a", 2); continue;
        case '\b': buf_append(out, "\\b", 2); continue;
        case '\f': buf_append(out, "\\f", 2); continue;
        case '\n': buf_append(out, "\\n", 2); continue;
        case '\r': buf_append(out, "\\r", 2); continue;
        case '\t': buf_append(out, "\\t", 2); continue;
        case '\v': buf_append(out, "\\v", 2); continue;
        }
        if (c < 0x20 || c == 0x7F) buf_printf(out, "\\x%02x", c);
        else if (c < 0x80) { char ch = (char)c; buf_append(out, &ch, 1); }
        else if (c < 0xA0 || c == 0xAD || c == 0xFEFF || (c >= 0x2028 && c <= 0x2029) || (c >= 0xFFF9 && c <= 0xFFFB))
            /* not printable for Go's strconv.IsPrint (approximation) */
            c > 0xFFFF ? buf_printf(out, "\\U%08x", c) : buf_printf(out, "\\u%04x", c);
        else buf_append(out, p + i - w, w);
    }
    buf_append(out, "\"", 1);
}

void pq_go_quote(buf *out, const char *s, size_t len) { go_quote_runes(out, s, len, 0); }

void pq_format_duration(buf *out, int64_t ms) {
    static const struct { const char *unit; int64_t mult; int exact; } units[] = {
        {"y", 365LL * 86400000, 1}, {"w", 7LL * 86400000, 1}, {"d", 86400000, 0},
        {"h", 3600000, 0}, {"m", 60000, 0}, {"s", 1000, 0}, {"ms", 1, 0},
    };
    if (ms == 0) {
        buf_printf(out, "0s");
        return;
    }
    uint64_t left = ms < 0 ? (uint64_t)0 - (uint64_t)ms : (uint64_t)ms;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        uint64_t mult = (uint64_t)units[i].mult;
        if (units[i].exact && left % mult != 0) continue;
        uint64_t v = left / mult;
        if (v > 0) {
            buf_printf(out, "%llu%s", (unsigned long long)v, units[i].unit);
            left -= v * mult;
        }
    }
}
