/*
 * minheap.h - a binary min-heap of (key, item) pairs.
 *
 * The scrape loop keeps its targets' next scrape times and its transfers'
 * deadlines in these, so that finding what is due touches only what is
 * due: scanning every target for it cost a cache miss per target per
 * wake-up.  The key lives in the entry, so sifting never touches the
 * items, and there is no removal from the middle: a user drops entries
 * that went stale when they come to the top (and rebuilds the heap when
 * items go away).
 *
 * Ownership: the heap owns its array; the items belong to the caller.
 * Threads: one at a time.
 */
#ifndef PROMLITE_MINHEAP_H
#define PROMLITE_MINHEAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int64_t key;
    void *item;
} minheap_entry;

typedef struct {
    minheap_entry *v;
    size_t n, cap;
} minheap;

void minheap_push(minheap *h, int64_t key, void *item);

/* The entry with the smallest key, or NULL when the heap is empty. */
static inline const minheap_entry *minheap_top(const minheap *h) { return h->n ? &h->v[0] : NULL; }

/* Removes the entry with the smallest key and returns its item (NULL when
 * the heap is empty). */
void *minheap_pop(minheap *h);

/* Empties the heap without touching the items. */
static inline void minheap_clear(minheap *h) { h->n = 0; }

void minheap_free(minheap *h);

#endif
