/*
 * labels.h - label sets: Prometheus's series identity.
 *
 * A series is a set of (name, value) pairs, __name__ included, sorted by name
 * and with unique names.  In memory a label points at bytes owned elsewhere
 * (the input buffer, a decoded record); labels_encode() produces the canonical
 * byte form stored in the index, which is also what two label sets are
 * compared by.
 *
 * Encoding: for each label in name order, varint(len(name)) name
 * varint(len(value)) value.  Self-delimiting, so no byte value is reserved and
 * any UTF-8 value round-trips.
 *
 * Ownership: nothing here allocates except labels_format() (into a caller's
 * buf) and labels_dup() (one block the caller frees).  Threads: pure functions, any thread.
 */
#ifndef PROMLITE_LABELS_H
#define PROMLITE_LABELS_H

#include <stddef.h>
#include <stdint.h>

#include "common/util.h"

typedef struct {
    const char *name;
    uint32_t name_len;
    const char *value;
    uint32_t value_len;
} label;

#define METRIC_NAME_LABEL "__name__"

/* Sorts by name (then value, so the order is total). */
void labels_sort(label *v, size_t n);
/* Returns the index of the first duplicate name in a sorted set, or -1. */
long labels_find_duplicate(const label *v, size_t n);
/* 64-bit hash of a sorted set (XXH3 over the canonical encoding's content). */
uint64_t labels_hash(const label *v, size_t n);

size_t labels_encoded_len(const label *v, size_t n);
size_t labels_encode(const label *v, size_t n, uint8_t *out);
/* Decodes into out[0..cap) with pointers into enc.  Returns the count, or -1
 * if the encoding is corrupt or has more than cap labels. */
long labels_decode(const uint8_t *enc, size_t len, label *out, size_t cap);
/* Counts the labels of an encoding (-1 if corrupt). */
long labels_count_encoded(const uint8_t *enc, size_t len);

/* Orders two sorted sets as Prometheus's labels.Compare: pair by pair,
 * name then value, bytewise; a set that is a prefix of the other first. */
int labels_compare(const label *a, size_t na, const label *b, size_t nb);

/* Finds the value of name in a set; NULL when absent. */
const label *labels_get(const label *v, size_t n, const char *name, size_t name_len);

/* Appends the series in exposition syntax: name{a="b",c="d"} with values
 * escaped (\\ \" \n).  Without a valid metric name: {__name__="...",...}. */
void labels_format(buf *b, const label *v, size_t n);

/* A copy of a label set that owns its strings: the array and every name
 * and value (NUL-terminated) in one malloc'd block, released with free().
 * Returns a valid pointer even for n == 0. */
label *labels_dup(const label *v, size_t n);

/* Name rules of the data model. */
int metric_name_valid(const char *s, size_t n);   /* [a-zA-Z_:][a-zA-Z0-9_:]* */
int label_name_valid(const char *s, size_t n);    /* [a-zA-Z_][a-zA-Z0-9_]*   */
int utf8_valid(const char *s, size_t n);

#endif
