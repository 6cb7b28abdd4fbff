/*
 * minheap.c - the binary min-heap of minheap.h, the usual array layout
 * (the children of entry i are 2i+1 and 2i+2).
 */
#include "common/minheap.h"

#include <stdlib.h>

#include "common/util.h"

void minheap_push(minheap *h, int64_t key, void *item) {
    if (h->n == h->cap) {
        h->cap = h->cap ? h->cap * 2 : 64;
        h->v = xrealloc(h->v, h->cap * sizeof *h->v);
    }
    size_t i = h->n++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (h->v[parent].key <= key) break;
        h->v[i] = h->v[parent];
        i = parent;
    }
    h->v[i] = (minheap_entry){key, item};
}

void *minheap_pop(minheap *h) {
    if (!h->n) return NULL;
    void *item = h->v[0].item;
    minheap_entry last = h->v[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n) break;
        if (c + 1 < h->n && h->v[c + 1].key < h->v[c].key) c++;
        if (last.key <= h->v[c].key) break;
        h->v[i] = h->v[c];
        i = c;
    }
    if (h->n) h->v[i] = last;
    return item;
}

void minheap_free(minheap *h) {
    free(h->v);
    h->v = NULL;
    h->n = h->cap = 0;
}
