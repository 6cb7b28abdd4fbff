/*
 * chunkenc.h - sample chunk encodings.
 *
 * Two forms of a chunk exist:
 *
 *  - The open chunk, held in memory by the head while samples arrive one at a
 *    time: a bit stream with delta-of-delta timestamps and either decimal
 *    values (m / 10^K stored as deltas of the integer m) or Gorilla XOR
 *    floats, appended to in O(1) amortised without knowing future samples.
 *
 *  - The sealed chunk, written once to storage when an open chunk is full:
 *    the samples are re-encoded with whichever codec is smallest for them
 *    (see chunkenc.c for the codecs and the measurements behind them).
 *    A sealed chunk starts with a header byte naming its codec, so codecs
 *    can be added without a format migration.
 *
 * Every float is preserved bit-exact (all NaN payloads, including
 * Prometheus's staleness marker 0x7ff0000000000002, +-Inf and -0.0).
 *
 * Ownership: an open_chunk owns its heap buffer; open_chunk_free() releases
 * it.  The encode and decode functions write into caller-provided arrays and
 * allocate nothing.
 *
 * Threads: no global state; any thread may call any function on objects it
 * owns.  Synchronising access to one open_chunk is the caller's business.
 */
#ifndef PROMLITE_CHUNKENC_H
#define PROMLITE_CHUNKENC_H

#include <stddef.h>
#include <stdint.h>

/* An appendable chunk.  Kept small: the head holds one per active series. */
typedef struct open_chunk {
    uint8_t *buf;        /* bit stream; NULL while empty                    */
    uint32_t cap;        /* bytes allocated                                 */
    uint32_t nbits;      /* bits written                                    */
    uint16_t count;      /* samples in the chunk                            */
    uint8_t leading;     /* XOR state: leading zeros of the last window     */
    uint8_t trailing;    /* XOR state: trailing zeros of the last window    */
    uint8_t mode;        /* 0: XOR values; 1 + K: decimal values m / 10^K   */
    uint8_t exceptions;  /* decimal mode: values stored raw so far          */
    int64_t t_last;      /* last timestamp appended                         */
    int64_t t_delta;     /* last timestamp delta                            */
    uint64_t v_last;     /* XOR mode: bits of the last value; decimal mode:
                            the last decimal value's integer m              */
} open_chunk;

void open_chunk_init(open_chunk *c);
void open_chunk_free(open_chunk *c);        /* and re-inits it            */

/* Appends one sample.  The caller guarantees t is greater than the previous
 * timestamp.  Returns 0, or -1 when memory cannot be allocated (the chunk is
 * unchanged then). */
int open_chunk_append(open_chunk *c, int64_t t, double v);

/* Bytes the bit stream occupies (what a size-based cut compares against). */
static inline uint32_t open_chunk_bytes(const open_chunk *c) { return (c->nbits + 7) / 8; }

/* Decodes the first n samples (n <= c->count) of an open chunk's bit stream
 * into ts[] and vs[].  buf/nbits may be a copy taken under a lock.  Returns
 * the number decoded, or -1 if the stream is corrupt. */
int open_chunk_decode(const uint8_t *buf, uint32_t nbits, uint16_t n,
                      int64_t *ts, double *vs);

/* Upper bound of the size of a sealed chunk of n samples. */
#define CHUNK_ENCODE_BOUND(n) (32 + (size_t)(n) * 20)

/* Encodes n >= 1 samples (timestamps strictly increasing) as a sealed chunk
 * with the smallest codec.  out must hold CHUNK_ENCODE_BOUND(n) bytes; all
 * of it is used as scratch while choosing, so it may not overlap ts/vs.
 * Returns the bytes written (0 only for n == 0 or n > INT32_MAX). */
size_t chunk_encode(const int64_t *ts, const double *vs, size_t n, uint8_t *out);

/* Value codec families, to force one with chunk_encode_codec() (benchmarks,
 * tests).  BEST is what chunk_encode() does. */
enum chunk_codec {
    CHUNK_CODEC_BEST = 0,
    CHUNK_CODEC_XOR,    /* Gorilla XOR, codes anything                        */
    CHUNK_CODEC_CONST,  /* all values bit-identical                           */
    CHUNK_CODEC_DEC,    /* decimal m/10^K (best of raw/delta/dod)             */
    CHUNK_CODEC_BITS,   /* float bits as integers (best of raw/delta/dod)     */
};

/* As chunk_encode(), but the values use the given codec family only (the
 * timestamps still take their best form).  Returns 0 if that family cannot
 * code these values, or (forced codecs, tiny n) the result would exceed
 * CHUNK_ENCODE_BOUND(n).  Also returns 0 for n == 0 or n > INT32_MAX. */
size_t chunk_encode_codec(const int64_t *ts, const double *vs, size_t n, enum chunk_codec codec,
                          uint8_t *out);

/* Reads a sealed chunk's header: its first timestamp and sample count.
 * Returns 0, or -1 if the header is corrupt. */
int chunk_header(const uint8_t *buf, size_t len, int64_t *mint, uint32_t *count);

/* Decodes a sealed chunk into ts[] and vs[], which hold cap samples.
 * Returns the number of samples, or -1 if the chunk is corrupt or holds more
 * than cap samples.  Never reads outside buf[0..len). */
int chunk_decode(const uint8_t *buf, size_t len, int64_t *ts, double *vs, size_t cap);

/* Name of the value codec a sealed chunk uses ("xor", "const", "dec-raw",
 * "dec-delta", "dec-dod", "bits-raw", "bits-delta", "bits-dod"; "?" if
 * unknown), for statistics and debugging. */
const char *chunk_codec_name(const uint8_t *buf, size_t len);

/* Name of the timestamp form of a sealed chunk ("regular", "delta", "dod",
 * "grid"; "?" if unknown). */
const char *chunk_time_codec_name(const uint8_t *buf, size_t len);

#endif
