/*
 * yamltree.h - YAML documents as the Go programs promlite stands in for
 * read them: a node tree with positions, and typed decoders whose messages
 * match Go's yaml.v2 ("cannot unmarshal !!str `abc` into bool").
 *
 * Every configuration-like file promlite reads (prometheus.yml, rule
 * files, the alerting section) goes through here, so a type error, an
 * unknown key or a bad duration reads the same in all of them and always
 * names FILE:LINE:COL.
 *
 * Parsing: libyaml's document API reads the text; the result is copied at
 * once into yt_node trees allocated from a yt_arena and libyaml's document
 * is dropped.  The copy resolves each plain scalar's tag as yaml.v2 does
 * (YAML 1.1: yes/no/on/off are booleans, 0x10 and 1_000 integers, ~ null),
 * expands aliases (each use is a copy, with a budget against alias bombs)
 * and merge keys ("<<"), and refuses a second document (yaml.v2 would
 * silently read only the first).
 *
 * Decoding: a decoder per Go type.  Struct-like mappings are first checked
 * with yt_check_fields() against the type's known fields; then fields are
 * fetched by name with yt_field() and decoded.  Every decoder returns 0, or
 * -1 with the loader's errbuf set to "NAME:LINE:COL: reason".  Decoders of
 * optional values leave the output unchanged when the node is absent
 * (NULL) or null, so callers set defaults first.
 *
 * Ownership: nodes, strings and arrays returned by anything here live in
 * the arena; yt_arena_free() releases them all, plus whatever was handed to
 * yt_arena_defer().  Nothing points into the input text.
 * Threads: no global state; an arena and its loader belong to one thread at
 * a time.  A finished tree is read-only and may be read by any thread.
 */
#ifndef PROMLITE_YAMLTREE_H
#define PROMLITE_YAMLTREE_H

#include <stddef.h>
#include <stdint.h>

#include "common/labels.h"
#include "common/util.h"

/* ------------------------------------------------------------ arena */

typedef struct yt_arena yt_arena;

yt_arena *yt_arena_new(void);
/* Runs the deferred frees (newest first), then releases the memory.  NULL
 * is a no-op. */
void yt_arena_free(yt_arena *a);
/* n zeroed bytes aligned for any type. */
void *yt_alloc(yt_arena *a, size_t n);
char *yt_strndup(yt_arena *a, const char *s, size_t n);
char *yt_strdup(yt_arena *a, const char *s);
/* Has fn(p) called when the arena is freed: for objects made by other
 * modules (relabel rules, parsed templates) that a decoded struct keeps. */
void yt_arena_defer(yt_arena *a, void (*fn)(void *), void *p);

/* ------------------------------------------------------------ nodes */

typedef enum {
    YT_NULL,      /* ~, null, an empty value */
    YT_SCALAR,
    YT_SEQUENCE,
    YT_MAPPING,
} yt_kind;

typedef struct yt_node yt_node;
typedef struct yt_pair { yt_node *key, *value; } yt_pair;

/* One YAML node with its position. */
struct yt_node {
    yt_kind kind;
    int line, column;           /* 1-based, where the node starts */
    /* YAML 1.1 tag as Go's yaml.v2 resolves it: "!!str", "!!int",
     * "!!float", "!!bool", "!!null", "!!seq", "!!map", or an explicit tag. */
    const char *tag;
    const char *value;          /* scalars: NUL-terminated text */
    size_t len;                 /* its length (may contain NUL bytes) */
    int quoted;                 /* scalar written with quotes or as a block */
    yt_node **items;            /* sequence items */
    yt_pair *pairs;             /* mapping entries, in document order */
    size_t n;                   /* count of items or pairs */
};

/* What a parse or decode needs: where to allocate, what to call the file in
 * messages, the folder relative paths resolve against, where errors go.
 * nodes counts nodes made (the alias budget); start it at 0. */
typedef struct {
    yt_arena *arena;
    const char *name;
    const char *dir;
    errbuf *err;
    size_t nodes;
} yt_loader;

/* Parses text (need not be NUL-terminated) into a tree.  *root is NULL for
 * an empty document.  Limits: 2,000,000 nodes after alias expansion, 200
 * levels of nesting. */
int yt_parse(yt_loader *L, const char *text, size_t len, yt_node **root);

/* Copies a tree (from another arena) into a: for a section whose decoded
 * form must outlive the document it came from. */
yt_node *yt_copy(yt_arena *a, const yt_node *n);

/* ------------------------------------------------------------ messages */

/* Sets "NAME:LINE:COL: message" at node `at` (or "NAME: message" when at
 * is NULL) and returns -1. */
int yt_fail(yt_loader *L, const yt_node *at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Writes s as Go's %q would, cut to fit out (YT_QUOTE_MAX is enough for
 * messages).  Returns out. */
#define YT_QUOTE_MAX 160
const char *yt_quote(char *out, size_t cap, const char *s);

/* "cannot unmarshal !!str `abc` into T", as yaml.v2 words it. */
int yt_type_error(yt_loader *L, const yt_node *n, const char *into);

/* ------------------------------------------------------------ structure */

/* 0 when n is a mapping or null (an empty section), else a type error. */
int yt_expect_mapping(yt_loader *L, const yt_node *n, const char *into);
/* The value of a field of a mapping; NULL when absent or map is not one. */
const yt_node *yt_field(const yt_node *map, const char *name);
/* Whether a value configures nothing (null, [], {}). */
int yt_is_empty(const yt_node *v);
/* Checks a struct-like mapping's keys: each is in `known` (or in
 * `unsupported`, which fails with "\"x\" is not supported by promlite"
 * unless its value is empty), and none repeats.  Unknown keys fail as
 * yaml.v2's strict mode does: "field x not found in type T".  Both lists
 * end with NULL; unsupported may be NULL. */
int yt_check_fields(yt_loader *L, const yt_node *map, const char *type_name, const char *const *known,
                    const char *const *unsupported);

/* ------------------------------------------------------------ values */

/* Any scalar as text (yaml.v2 takes 123 or yes as a string). */
int yt_string(yt_loader *L, const yt_node *n, const char **out);
/* Only !!bool scalars; null sets false, as yaml.v2 zeroes it. */
int yt_bool(yt_loader *L, const yt_node *n, int *out);
/* A non-negative !!int, or an integral !!float (1e3); `into` names the Go
 * type in messages. */
int yt_uint(yt_loader *L, const yt_node *n, uint64_t *out, const char *into);
/* A Prometheus duration (model.Duration: "1h30m", "5s"), in ms. */
int yt_duration(yt_loader *L, const yt_node *n, int64_t *ms);
/* A size as units.Base2Bytes ("10MB", "1.5GiB"), in bytes. */
int yt_size(yt_loader *L, const yt_node *n, uint64_t *out);
/* A list of strings; null is an empty list.  Each item's line goes to
 * *lines when lines is not NULL. */
int yt_string_list(yt_loader *L, const yt_node *n, const char *into, const char ***out, size_t *nout, int **lines);
/* A label set: names valid label names, values valid UTF-8, no repeats;
 * sorted by name on return. */
int yt_labels(yt_loader *L, const yt_node *n, const char *into, label **out, size_t *nout);
/* A file name resolved against L->dir, as Prometheus's config.JoinDir
 * (absolute and empty names stay as they are). */
const char *yt_join_dir(yt_loader *L, const char *path);

/* Whether s is one of the n strings of list. */
int yt_in_list(const char *s, const char *const *list, size_t n);

#endif
